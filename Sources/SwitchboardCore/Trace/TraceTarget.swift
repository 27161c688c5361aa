/// What a trace follows: one client (by id, on any node), every connection of one user, or
/// everything that happens on one channel.
public enum TraceTarget: Sendable, Hashable {
    case client(String)
    case user(String)
    case channel(String)

    /// The target a query such as `client=c1@node-b` names: exactly one of `client`, `user` and
    /// `channel`, not empty.
    public init(query: [String: String]) throws(TraceTargetError) {
        let named = ["client", "user", "channel"].compactMap { key in query[key].map { (key, $0) } }
        guard named.count == 1, let (key, value) = named.first else { throw TraceTargetError.notOne }
        guard !value.isEmpty else { throw TraceTargetError.empty(key) }
        self.init(kind: key, value: value)!
    }

    /// `kind` is `client`, `user` or `channel`.
    public init?(kind: String, value: String) {
        switch kind {
        case "client": self = .client(value)
        case "user": self = .user(value)
        case "channel": self = .channel(value)
        default: return nil
        }
    }

    /// `client`, `user` or `channel`.
    public var kind: String {
        switch self {
        case .client: "client"
        case .user: "user"
        case .channel: "channel"
        }
    }

    /// The client id, user name or channel name.
    public var value: String {
        switch self {
        case .client(let value), .user(let value), .channel(let value): value
        }
    }

    /// `{"client":"c1@node-b"}`.
    public var json: String { "{\"\(kind)\":\(JSONText.quoted(value))}" }

    /// `client c1@node-b`, for events, the console and the CLI.
    public var description: String { "\(kind) \(value)" }

    /// The target in `object` (`{"client":"…"}` and the like), as ``json`` writes it.
    public init?(json object: JSONObject) {
        guard let target = try? TraceTarget(query: ["client", "user", "channel"].reduce(into: [:]) { $0[$1] = object.string($1) }) else { return nil }
        self = target
    }
}

/// Why a query names no trace target.
public enum TraceTargetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// None, or more than one, of `client`, `user` and `channel`.
    case notOne
    /// The one named is empty.
    case empty(String)

    public var description: String {
        switch self {
        case .notOne: "name exactly one of client, user and channel"
        case .empty(let key): "\(key) is empty"
        }
    }
}
