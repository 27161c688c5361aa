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
    /// The write was carried out by the master but fewer replicas than asked for confirmed it
    /// within the timeout (`WAIT`): it may be lost if the master fails now.
    case notReplicated(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "Redis is unavailable: \(why)"
        case .noReply(let why): "no reply from Redis: \(why)"
        case .reply(let message): "Redis answered: \(message)"
        case .notReplicated(let why): "not confirmed by the replicas: \(why)"
        }
    }
}
