/// Why a request to Redis did not succeed.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// There is no connection to Redis right now (never connected, lost, or reconnecting); the
    /// request was not sent.
    case unavailable(String)
    /// The request was sent but no reply came within its deadline, or the connection was lost
    /// before it came: it may or may not have been carried out.
    case noReply(String)
    /// Redis answered with an error (`-ERR …`, `-NOSCRIPT …`).
    case reply(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "Redis is unavailable: \(why)"
        case .noReply(let why): "no reply from Redis: \(why)"
        case .reply(let message): "Redis answered: \(message)"
        }
    }
}
