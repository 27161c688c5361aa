import Foundation
import NIOCore
import Testing

@testable import SwitchboardCore

@Suite("Pusher signatures")
struct PusherSignatureTests {
    /// The example of Pusher's HTTP API reference (also checked with the Python library).
    @Test("the REST example of the Pusher reference verifies")
    func referenceExample() throws {
        let app = PusherApp(id: "3", key: "278d425bdf160c739803", secret: "7ad3773142a6692b25b8")
        let body = Array(#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#.utf8)
        #expect(PusherSignature.md5Hex(body) == "ec365a775a4cd0599faeb73354201b6f")
        let query =
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
            + "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        let request = PusherRequestAuth(method: "POST", path: "/apps/3/events", rawQuery: query, body: body)
        #expect(try request.verify(apps: { $0 == app.key ? app : nil }, now: 1_353_088_179 + 599).get() == app)
    }

    @Test("stale timestamps, tampered bodies, wrong keys and bad signatures are refused")
    func refusals() {
        let app = PusherApp(id: "3", key: "k", secret: "s")
        let now = 1_800_000_000
        func request(timestamp: Int = now, body: String = "{}", md5: String? = nil, key: String = "k", tamper: Bool = false) -> PusherRequestAuth {
            let bodyMD5 = md5 ?? PusherSignature.md5Hex(Array(body.utf8))
            let signed = "auth_key=\(key)&auth_timestamp=\(timestamp)&auth_version=1.0&body_md5=\(bodyMD5)"
            var signature = PusherSignature.hmacHex(secret: "s", "POST\n/apps/3/events\n\(signed)")
            if tamper { signature = String(signature.reversed()) }
            return PusherRequestAuth(
                method: "POST", path: "/apps/3/events", rawQuery: signed + "&auth_signature=\(signature)", body: Array(body.utf8))
        }
        let apps = { (key: String) in key == "k" ? app : nil }
        #expect((try? request().verify(apps: apps, now: now).get()) == app)
        #expect(failure(request(timestamp: now - 601).verify(apps: apps, now: now))?.message.hasPrefix("Timestamp expired") == true)
        #expect(failure(request(timestamp: now + 601).verify(apps: apps, now: now))?.status == 401)
        #expect(failure(request(md5: PusherSignature.md5Hex([])).verify(apps: apps, now: now))?.message == "body_md5 does not match the body")
        #expect(failure(request(key: "other").verify(apps: apps, now: now))?.message == "Unknown auth_key")
        #expect(failure(request(tamper: true).verify(apps: apps, now: now))?.message.hasPrefix("Invalid signature") == true)
    }

    @Test("query values are signed decoded, sorted by key")
    func decodedQuery() throws {
        let app = PusherApp(id: "1", key: "k", secret: "s")
        let signed =
            "auth_key=k&auth_timestamp=100&auth_version=1.0&body_md5=\(PusherSignature.md5Hex([]))&filter_by_prefix=presence-&info=user_count,subscription_count"
        let signature = PusherSignature.hmacHex(secret: "s", "GET\n/apps/1/channels\n\(signed)")
        let raw =
            "info=user_count%2Csubscription_count&filter_by_prefix=presence-&auth_version=1.0&auth_timestamp=100&auth_key=k&body_md5=\(PusherSignature.md5Hex([]))&auth_signature=\(signature)"
        let request = PusherRequestAuth(method: "GET", path: "/apps/1/channels", rawQuery: raw, body: [])
        #expect(try request.verify(apps: { _ in app }, now: 100).get() == app)
        #expect(request.parameter("info") == "user_count,subscription_count")
    }

    @Test("channel auth strings: private and presence (over the exact channel_data)")
    func channelAuth() {
        let app = PusherApp(id: "1", key: "278d425bdf160c739803", secret: "7ad3773142a6692b25b8")
        // From Pusher's authorisation documentation.
        #expect(
            PusherSignature.channelAuth(app: app, socketID: "1234.1234", channel: "private-foobar", channelData: nil)
                == "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
        let data = #"{"user_id": 10, "user_info": {"name": "Mr. Channels"}}"#
        let expected = "278d425bdf160c739803:" + PusherSignature.hmacHex(secret: app.secret, "1234.1234:presence-foobar:" + data)
        #expect(PusherSignature.channelAuth(app: app, socketID: "1234.1234", channel: "presence-foobar", channelData: data) == expected)
        #expect(PusherSignature.matches(expected, expected))
        #expect(!PusherSignature.matches(expected, String(expected.dropLast()) + "0"))
        #expect(!PusherSignature.matches(expected, String(expected.dropLast())))
    }

    func failure(_ result: Result<PusherApp, PusherRequestAuth.Failure>) -> PusherRequestAuth.Failure? {
        if case .failure(let failure) = result { failure } else { nil }
    }
}

@Suite("Pusher protocol")
struct PusherProtocolTests {
    let allocator = ByteBufferAllocator()

    func decode(_ text: String) -> Result<PusherRequest, PusherRequest.Failure> {
        PusherRequest.decode(Array(text.utf8))
    }

    @Test("requests decode, with data as an object or as a JSON string")
    func requests() throws {
        #expect(try decode(#"{"event":"pusher:ping","data":""}"#).get() == .ping)
        #expect(
            try decode(#"{"event":"pusher:subscribe","data":{"channel":"news"}}"#).get() == .subscribe(channel: "news", auth: nil, channelData: nil))
        #expect(
            try decode(#"{"event":"pusher:subscribe","data":"{\"channel\":\"private-a\",\"auth\":\"k:s\"}"}"#).get()
                == .subscribe(channel: "private-a", auth: "k:s", channelData: nil))
        let presence =
            #"{"event":"pusher:subscribe","data":{"channel":"presence-r","auth":"k:s","channel_data":"{\"user_id\": \"7\",  \"user_info\": {\"n\": 1}}"}}"#
        #expect(
            try decode(presence).get() == .subscribe(channel: "presence-r", auth: "k:s", channelData: #"{"user_id": "7",  "user_info": {"n": 1}}"#))
        #expect(try decode(#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#).get() == .unsubscribe(channel: "news"))
        #expect(
            try decode(#"{"event":"client-typing","channel":"private-a","data":{"who": [1, 2]}}"#).get()
                == .clientEvent(event: "client-typing", channel: "private-a", data: Array(#"{"who": [1, 2]}"#.utf8)))
    }

    @Test("bad requests are errors, not crashes")
    func badRequests() {
        for text in ["[]", "{", #"{"data":1}"#, #"{"event":"pusher:subscribe"}"#, #"{"event":"hello"}"#, #"{"event":"client-x","data":1}"#] {
            guard case .failure = decode(text) else {
                Issue.record("\(text) decoded")
                continue
            }
        }
    }

    @Test("presence members keep user ids as strings and user_info as sent")
    func presenceMember() {
        #expect(
            PresenceMember(channelData: #"{"user_id":42,"user_info":{"a": [1]}}"#) == PresenceMember(userID: "42", info: Array(#"{"a": [1]}"#.utf8)))
        #expect(PresenceMember(channelData: #"{"user_id":"u"}"#) == PresenceMember(userID: "u", info: nil))
        #expect(PresenceMember(channelData: #"{"user_info":{}}"#) == nil)
        #expect(PresenceMember(channelData: "not json") == nil)
    }

    @Test("the registry counts connections per user: joins and leaves are per user")
    func registry() {
        var registry = PresenceRegistry()
        let ann = PresenceMember(userID: "ann", info: nil)
        let bob = PresenceMember(userID: "bob", info: Array("{}".utf8))
        #expect(registry.join(ann, channel: "p", limit: 2) == .joined)
        #expect(registry.join(ann, channel: "p", limit: 2) == .alreadyPresent)
        #expect(registry.join(bob, channel: "p", limit: 2) == .joined)
        #expect(registry.join(PresenceMember(userID: "cy", info: nil), channel: "p", limit: 2) == .full)
        #expect(registry.members(of: "p").map(\.userID) == ["ann", "bob"])
        #expect(registry.leave(userID: "ann", channel: "p") == false)
        #expect(registry.leave(userID: "ann", channel: "p") == true)
        #expect(registry.leave(userID: "ann", channel: "p") == false)
        #expect(registry.userCount(of: "p") == 1)
    }

    @Test("frames: data is a JSON string where the protocol says so")
    func frames() throws {
        func json(_ frame: ByteBuffer) throws -> [String: Any] {
            let parsed = try parseFrame(frame)
            return try #require(JSONSerialization.jsonObject(with: Data(parsed.payload)) as? [String: Any])
        }
        let established = try json(PusherFrame.connectionEstablished(socketID: "1.2", activityTimeout: 30, allocator: allocator))
        #expect(established["event"] as? String == "pusher:connection_established")
        #expect(established["channel"] == nil, "clients reject a channel key on connection_established")
        let establishedData = try #require(established["data"] as? String)
        let inner = try #require(JSONSerialization.jsonObject(with: Data(establishedData.utf8)) as? [String: Any])
        #expect(inner["socket_id"] as? String == "1.2")
        #expect(inner["activity_timeout"] as? Int == 30)

        let members = [PresenceMember(userID: "1", info: Array(#"{"n":"a"}"#.utf8)), PresenceMember(userID: "2", info: nil)]
        let succeeded = try json(PusherFrame.subscriptionSucceeded(channel: "presence-x", members: members, allocator: allocator))
        let succeededData = try #require(succeeded["data"] as? String)
        let outer = try #require(JSONSerialization.jsonObject(with: Data(succeededData.utf8)) as? [String: Any])
        let presence = try #require(outer["presence"] as? [String: Any])
        #expect(presence["ids"] as? [String] == ["1", "2"])
        #expect(presence["count"] as? Int == 2)
        #expect(((presence["hash"] as? [String: Any])?["1"] as? [String: String]) == ["n": "a"])

        let event = try json(
            PusherFrame.channelEvent("client-a", channel: "presence-x", data: ByteBuffer(string: #"{"k":1}"#), userID: "9", allocator: allocator))
        #expect((event["data"] as? [String: Int]) == ["k": 1])
        #expect(event["user_id"] as? String == "9")
        let error = try json(PusherFrame.error(code: 4009, message: "bye \"now\"", allocator: allocator))
        #expect(((error["data"] as? [String: Any])?["code"] as? Int) == 4009)
    }

    @Test("channel names and kinds")
    func channelNames() {
        #expect(PusherChannel.isValid("private-a=b@c,d.e;f_g-h"))
        #expect(!PusherChannel.isValid(""))
        #expect(!PusherChannel.isValid("a:b"))
        #expect(!PusherChannel.isValid(String(repeating: "a", count: 165)))
        #expect(PusherChannel.Kind(name: "private-encrypted-x") == .privateEncrypted)
        #expect(PusherChannel.Kind(name: "presence-x") == .presence)
        #expect(PusherChannel.Kind(name: "privatex") == .public)
        let app = PusherApp(id: "12", key: "k", secret: "s")
        #expect(app.hubChannel("news") == "12:news")
        #expect(app.channelName(ofHubChannel: "12:news") == "news")
        #expect(app.channelName(ofHubChannel: "123:news") == nil)
    }

    @Test("query strings decode + and %XX")
    func queryString() {
        let pairs = QueryString.parse("a=1&b=two+words&c=%C3%A9&d&e=%ZZ")
        #expect(pairs.map(\.key) == ["a", "b", "c", "d", "e"])
        #expect(pairs.map(\.value) == ["1", "two words", "é", "", "%ZZ"])
        #expect(QueryString.value(of: "protocol", inURI: "/app/k?client=js&protocol=7") == "7")
        #expect(QueryString.value(of: "protocol", inURI: "/app/k") == nil)
    }
}
