import Crypto

/// The signatures of the Pusher protocol: channel authorisation strings and signed REST requests.
///
/// Every comparison of a presented signature is constant-time.
public enum PusherSignature {
    /// `hex(HMAC-SHA256(secret, message))`.
    public static func hmacHex(secret: String, _ message: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return hex(code)
    }

    /// `hex(MD5(bytes))`, the `body_md5` of REST requests.
    public static func md5Hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(Insecure.MD5.hash(data: Array(bytes)))
    }

    /// The `auth` a client must present to subscribe to a private or presence channel:
    /// `key:hex(HMAC(secret, "socket_id:channel"))`, with `:channel_data` appended for presence.
    /// `channelData` is the exact string the client sent, never re-serialised.
    public static func channelAuth(app: PusherApp, socketID: String, channel: String, channelData: String?) -> String {
        var message = socketID + ":" + channel
        if let channelData { message += ":" + channelData }
        return app.key + ":" + hmacHex(secret: app.secret, message)
    }

    /// The `auth` of `pusher:signin`: `key:hex(HMAC(secret, "socket_id::user::user_data"))`.
    public static func signinAuth(app: PusherApp, socketID: String, userData: String) -> String {
        app.key + ":" + hmacHex(secret: app.secret, socketID + "::user::" + userData)
    }

    /// Whether `presented` equals `expected`, in time that does not depend on where they differ.
    public static func matches(_ presented: String, _ expected: String) -> Bool {
        let a = Array(presented.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A REST API request's signature check (`auth_key`, `auth_timestamp`, `auth_version`,
/// `body_md5`, `auth_signature`).
///
/// The signed string is `METHOD\nPATH\nQUERY`, where QUERY is every parameter except
/// `auth_signature`, sorted by key, joined as `k=v` with `&`, values not URL-encoded.
public struct PusherRequestAuth: Sendable {
    /// Why a request was refused, with the HTTP status to answer.
    public struct Failure: Error, Equatable, Sendable {
        public var status: Int
        public var message: String
    }

    /// Largest accepted difference between `auth_timestamp` and the server's clock, in seconds.
    public static let maxClockSkew = 600

    public var method: String
    /// The request path, as received (percent-encoded or not).
    public var path: String
    /// The query parameters, decoded, in the order received.
    public var query: [(key: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, rawQuery: String?, body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = QueryString.parse(rawQuery ?? "")
        self.body = body
    }

    /// A query parameter's decoded value.
    public func parameter(_ key: String) -> String? {
        query.first { $0.key == key }?.value
    }

    /// Checks the request against the app that `auth_key` names; returns that app.
    public func verify(apps: (String) -> PusherApp?, now: Int) -> Result<PusherApp, Failure> {
        guard let key = parameter("auth_key"), let app = apps(key) else {
            return .failure(Failure(status: 401, message: "Unknown auth_key"))
        }
        guard let signature = parameter("auth_signature") else {
            return .failure(Failure(status: 401, message: "Missing auth_signature"))
        }
        guard let timestamp = parameter("auth_timestamp").flatMap({ Int($0) }) else {
            return .failure(Failure(status: 401, message: "Missing or malformed auth_timestamp"))
        }
        guard abs(now - timestamp) <= Self.maxClockSkew else {
            return .failure(
                Failure(status: 401, message: "Timestamp expired: \(abs(now - timestamp)) seconds from server time (at most \(Self.maxClockSkew))"))
        }
        guard parameter("auth_version") == "1.0" else {
            return .failure(Failure(status: 401, message: "auth_version must be 1.0"))
        }
        if let md5 = parameter("body_md5") {
            guard md5 == PusherSignature.md5Hex(body) else {
                return .failure(Failure(status: 401, message: "body_md5 does not match the body"))
            }
        } else if !body.isEmpty {
            return .failure(Failure(status: 401, message: "Missing body_md5"))
        }
        let signed = query.filter { $0.key != "auth_signature" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        // Libraries sign the path before encoding it; accept it either way.
        for path in Set([path, QueryString.percentDecoded(path) ?? path]) {
            let expected = PusherSignature.hmacHex(secret: app.secret, "\(method)\n\(path)\n\(signed)")
            if PusherSignature.matches(signature, expected) { return .success(app) }
        }
        return .failure(
            Failure(
                status: 401, message: "Invalid signature: you should have sent HmacSHA256Hex(\"\(method)\\n\(path)\\n\(signed)\", your_secret_key)"))
    }
}
