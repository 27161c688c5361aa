import Foundation
import NIOWebSocket
import RedisTestSupport
import SwitchboardCore
import SwitchboardServer
import Testing
import WSClient

/// Path parameters arrive percent-encoded from most HTTP clients (`encodeURIComponent`,
/// Python's `quote(…, safe="")`); every route decodes them before using them.
@Suite("Percent-encoded path parameters")
struct PathParameterTests {
    private func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// Reads the welcome frame and returns the client id it names.
    private func clientID(of client: TestClient) async throws -> String {
        let welcome = try #require(try await client.next())
        return try #require(try object(welcome)["client"] as? String)
    }

    /// Every byte of `text` as a `%XX` escape, as a client that escapes everything sends it.
    private func escapingEverything(_ text: String) -> String {
        text.utf8.map { String(format: "%%%02X", $0) }.joined()
    }

    @Test func anEscapedClientIDIsReadAndKicked() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            let id = try await clientID(of: client)
            let quoted = escapingEverything(id)
            let row = try await server.http("GET", "/api/clients/\(quoted)")
            #expect(row.status == 200, "\(row.body)")
            #expect(try object(row.body)["id"] as? String == id)
            let kick = try await server.http("POST", "/api/clients/\(quoted)/kick", body: #"{"reason":"escaped"}"#)
            #expect(kick.status == 200, "\(kick.body)")
            let close = try #require(try await client.closeFrame())
            #expect(close.closeCode == .unknown(4000))
            #expect(close.reason == "escaped")
        }
    }

    /// Clustered, ids name their node (`c1@node-b`), and clients send the `@` as `%40`.
    @Test(.enabled(if: RedisServerProcess.available, "needs redis-server (scripts/test.sh installs it)"))
    func aClusteredClientIDWithItsAtSignEscapedIsKicked() async throws {
        let redis = try RedisServerProcess()
        try await TestServer.with {
            $0.hub.cluster.redis = redis.address
            $0.hub.cluster.nodeName = "node-b"
        } body: { server in
            let client = try await TestClient.connect(server.url)
            let id = try await clientID(of: client)
            #expect(id.hasSuffix("@node-b"))
            let quoted = id.replacingOccurrences(of: "@", with: "%40")
            let kick = try await server.http("POST", "/api/clients/\(quoted)/kick", body: "{}")
            #expect(kick.status == 200, "\(kick.body)")
            #expect(try #require(try await client.closeFrame()).closeCode == .unknown(4000))
        }
    }

    @Test func anEscapedChannelNameReachesItsChannel() async throws {
        try await TestServer.with {
            $0.hub.history.global = HistoryPolicy(size: 10, ttl: .seconds(60))
        } body: { server in
            for (channel, data) in [("room:a@b", "wanted"), ("room", "other")] {
                let published = try await server.http("POST", "/api/publish", body: #"{"channel":"\#(channel)","data":"\#(data)"}"#)
                #expect(published.status == 200, "\(published.body)")
            }
            for path in ["room%3Aa%40b", "room%3aa%40b", "room:a%40b", escapingEverything("room:a@b")] {
                let answer = try await server.http("GET", "/api/channels/\(path)/history")
                #expect(answer.status == 200, "\(path): \(answer.body)")
                let history = try object(answer.body)
                #expect(history["channel"] as? String == "room:a@b", "\(path)")
                let messages = try #require(history["messages"] as? [[String: Any]], "\(path): \(answer.body)")
                #expect(messages.map { $0["data"] as? String } == ["wanted"], "\(path)")
            }
        }
    }

    @Test func aMalformedEscapeIsABadRequest() async throws {
        try await TestServer.with { server in
            for (method, path) in [("POST", "/api/clients/c1%4/kick"), ("GET", "/api/clients/c%ZZ1"), ("GET", "/api/channels/room%C3/history")] {
                let answer = try await server.http(method, path, body: method == "POST" ? "{}" : nil)
                #expect(answer.status == 400, "\(method) \(path): \(answer.body)")
                let error = try #require(try object(answer.body)["error"] as? [String: Any], "\(answer.body)")
                #expect(error["code"] as? String == "bad_request", "\(method) \(path)")
            }
        }
    }

    /// The Pusher API's `user_id`: ids are often e-mail addresses, and the libraries escape the `@`.
    @Test func anEscapedPusherUserIDIsTerminated() async throws {
        let app = PusherApp(id: "42", key: "key42", secret: "0123456789abcdef0123")
        try await TestServer.with {
            $0.hub.pusherApps = [app]
        } body: { server in
            // The app key of the WebSocket path `/app/{key}` is decoded too.
            let client = try await TestClient.connect("ws://127.0.0.1:\(server.port)/app/\(escapingEverything(app.key))?protocol=7")
            let established = try object(try #require(try await client.next()))
            let connection = try object(try #require(established["data"] as? String))
            let socketID = try #require(connection["socket_id"] as? String)
            let userData = #"{"id":"ann@example.com"}"#
            let auth = PusherSignature.signinAuth(app: app, socketID: socketID, userData: userData)
            let signin: [String: Any] = ["event": "pusher:signin", "data": ["auth": auth, "user_data": userData]]
            try await client.send(String(decoding: try JSONSerialization.data(withJSONObject: signin), as: UTF8.self))
            _ = try await client.next { $0.contains("pusher:signin_success") }

            let path = "/apps/42/users/ann%40example.com/terminate_connections"
            let query = "auth_key=\(app.key)&auth_timestamp=\(Int(Date().timeIntervalSince1970))&auth_version=1.0"
            let signature = PusherSignature.hmacHex(secret: app.secret, "POST\n\(path)\n\(query)")
            let answer = try await server.http("POST", "\(path)?\(query)&auth_signature=\(signature)", token: nil)
            #expect(answer.status == 200, "\(answer.body)")
            #expect(try #require(try await client.closeFrame()).closeCode == .unknown(4009))

            let malformed = "/apps/42/users/ann%4/terminate_connections"
            let refused = try await server.http(
                "POST", "\(malformed)?\(query)&auth_signature=\(PusherSignature.hmacHex(secret: app.secret, "POST\n\(malformed)\n\(query)"))",
                token: nil)
            #expect(refused.status == 400, "\(refused.body)")
            #expect(try object(refused.body)["error"] is String)
        }
    }
}
