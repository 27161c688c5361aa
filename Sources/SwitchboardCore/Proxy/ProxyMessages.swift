/// The four questions the hub can ask the application's backend.
public enum ProxyKind: String, Sendable, CaseIterable {
    /// May this handshake connect, and as whom?
    case connect
    /// May this client subscribe to this channel?
    case subscribe
    /// May this client publish this message (perhaps changed) to this channel?
    case publish
    /// This connection is about to expire: until when may it live on?
    case refresh
}

/// The JSON bodies the hub POSTs to the proxy URLs.
public enum ProxyRequest {
    /// `{"client","remote","protocol":"native","headers":{…}}`: `headers` are the handshake's
    /// headers that `proxy-headers` passes on, each under the name as configured.
    public static func connect(client: String, remote: String, headers: [(name: String, value: String)]) -> [UInt8] {
        var json = "{\"client\":\(JSONText.quoted(client)),\"remote\":\(JSONText.quoted(remote)),\"protocol\":\"native\",\"headers\":{"
        json += headers.map { "\(JSONText.quoted($0.name)):\(JSONText.quoted($0.value))" }.joined(separator: ",")
        return Array((json + "}}").utf8)
    }

    /// `{"client","user","channel"}`; an anonymous client's user is `""`.
    public static func subscribe(client: String, user: String?, channel: String) -> [UInt8] {
        Array("{\(clientAndUser(client, user)),\"channel\":\(JSONText.quoted(channel))}".utf8)
    }

    /// `{"client","user","channel","data"}`: `data` is the message's JSON exactly as the client
    /// sent it.
    public static func publish(client: String, user: String?, channel: String, data: some Collection<UInt8>) -> [UInt8] {
        var body = Array("{\(clientAndUser(client, user)),\"channel\":\(JSONText.quoted(channel)),\"data\":".utf8)
        body.append(contentsOf: data)
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// `{"client","user"}`.
    public static func refresh(client: String, user: String?) -> [UInt8] {
        Array("{\(clientAndUser(client, user))}".utf8)
    }

    private static func clientAndUser(_ client: String, _ user: String?) -> String {
        "\"client\":\(JSONText.quoted(client)),\"user\":\(JSONText.quoted(user ?? ""))"
    }
}

/// What the backend answered, read from its JSON: `{"result":{…}}`, `{"error":{"code","message"}}`
/// or `{"disconnect":{"code":4xxx,"reason"}}`.
public enum ProxyAnswer: Sendable, Equatable {
    /// Allowed; the result object's members, for the question's own reading.
    case result(ProxyResult)
    /// Refused: the slug and message reach the client unchanged in its `error` reply (a 403 at
    /// connect).
    case error(code: String, message: String)
    /// Refused, and the connection is to be closed with this code (4000–4999) and reason.
    case disconnect(code: UInt16, reason: String)

    /// Why an answer could not be read; the request counts as failed.
    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Reads the backend's answer.
    public init(parsing bytes: [UInt8]) throws(Malformed) {
        let object: JSONObject
        do {
            object = try JSONObject(parsing: bytes)
        } catch {
            throw Malformed(description: "the answer is not a JSON object")
        }
        if let raw = object.raw("result") {
            guard let result = try? JSONObject(parsing: Array(raw)) else { throw Malformed(description: "result is not an object") }
            self = .result(ProxyResult(result))
        } else if let raw = object.raw("error") {
            guard let error = try? JSONObject(parsing: Array(raw)), let code = error.string("code"), Self.isSlug(code) else {
                throw Malformed(description: "error needs a code: a slug of letters, digits and _ (at most 64)")
            }
            self = .error(code: code, message: error.string("message") ?? "")
        } else if let raw = object.raw("disconnect") {
            guard let disconnect = try? JSONObject(parsing: Array(raw)), let code = disconnect.int("code"), (4000...4999).contains(code) else {
                throw Malformed(description: "disconnect needs a code from 4000 to 4999")
            }
            let reason = disconnect.string("reason") ?? ""
            guard reason.utf8.count <= 123 else { throw Malformed(description: "a close reason has at most 123 bytes") }
            self = .disconnect(code: UInt16(code), reason: reason)
        } else {
            throw Malformed(description: "the answer has none of result, error, disconnect")
        }
    }

    private static func isSlug(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= 64
            && code.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0)
                    || (0x41...0x5A).contains($0)
            }
    }
}

/// The members of a `result` object, read as each question needs them.
public struct ProxyResult: Sendable, Equatable {
    let object: JSONObject

    init(_ object: JSONObject) {
        self.object = object
    }

    public static func == (lhs: ProxyResult, rhs: ProxyResult) -> Bool { lhs.object.bytes == rhs.object.bytes }

    /// A connect result: `{"user":"ann","info":{…},"channels":["user:ann"],"expire_at":…}`.
    public func connectGrant() throws(ProxyAnswer.Malformed) -> ConnectGrant {
        guard let user = object.string("user"), user.utf8.count <= 128 else {
            throw ProxyAnswer.Malformed(description: "a connect result needs \"user\": a string of at most 128 bytes")
        }
        let channels = object.has("channels") ? object.strings("channels") : []
        guard let channels, channels.allSatisfy(ChannelName.isValid) else {
            throw ProxyAnswer.Malformed(description: "\"channels\" must be an array of valid channel names")
        }
        return ConnectGrant(user: user, info: try info(), channels: channels, expireAt: try expireAt())
    }

    /// A subscribe result: `{}`, or `{"info":{…}}` for the client's presence in the channel.
    public func subscribeGrant() throws(ProxyAnswer.Malformed) -> [UInt8]? {
        try info()
    }

    /// A publish result: `{}`, or `{"data":…}` to publish instead of what the client sent.
    public var replacementData: [UInt8]? {
        object.raw("data").map(Array.init)
    }

    /// A refresh result: `{"expire_at":<unix seconds>}`.
    public func refreshedExpiry() throws(ProxyAnswer.Malformed) -> Int {
        guard let expireAt = try expireAt() else { throw ProxyAnswer.Malformed(description: "a refresh result needs expire_at") }
        return expireAt
    }

    private func info() throws(ProxyAnswer.Malformed) -> [UInt8]? {
        guard let raw = object.raw("info") else { return nil }
        guard raw.count <= PresenceMember.maxInfoBytes else {
            throw ProxyAnswer.Malformed(description: "\"info\" has more than \(PresenceMember.maxInfoBytes) bytes")
        }
        return Array(raw)
    }

    /// `expire_at`, when present.
    private func expireAt() throws(ProxyAnswer.Malformed) -> Int? {
        guard object.has("expire_at") else { return nil }
        guard let seconds = object.int("expire_at"), seconds > 0 else {
            throw ProxyAnswer.Malformed(description: "\"expire_at\" must be a positive integer of unix seconds")
        }
        return seconds
    }
}

/// What the connect proxy granted: who the client is, its presence info, the channels the hub
/// subscribes it to right after `welcome`, and when the connection expires (unix seconds).
public struct ConnectGrant: Sendable, Equatable {
    public var user: String
    public var info: [UInt8]?
    public var channels: [String]
    public var expireAt: Int?

    public init(user: String, info: [UInt8]? = nil, channels: [String] = [], expireAt: Int? = nil) {
        self.user = user
        self.info = info
        self.channels = channels
        self.expireAt = expireAt
    }
}
