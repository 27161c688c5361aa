/// WebSocket close codes the hub sends (RFC 6455 §7.4 and the application range 4000–4999).
public enum CloseCode: UInt16, Sendable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case invalidPayload = 1007
    case policyViolation = 1008
    case messageTooBig = 1009
    case internalError = 1011
    /// An operator kicked the client.
    case kicked = 4000
    /// The client did not read fast enough and its outbound mailbox filled up.
    case slowConsumer = 4002
    /// The client's token expired and no valid `refresh` came within the refresh grace.
    case expired = 4003
    /// The server asks the client to reconnect (e.g. during a rolling restart).
    case reconnect = 4200
    /// Pusher: no app has the key in the connection's path (do not reconnect).
    case pusherAppUnknown = 4001
    /// Pusher: the app has reached its connection limit.
    case pusherOverQuota = 4004
    /// Pusher: the `protocol` query parameter is missing or not 5–7.
    case pusherUnsupportedProtocol = 4007
    /// Pusher: disconnected by the app (terminate connections) or an operator; do not reconnect.
    case pusherUnauthorized = 4009
    /// Pusher: the server is over capacity for this client; reconnect with backoff.
    case pusherOverCapacity = 4100
    /// Pusher: the client answered no ping within the activity timeout.
    case pusherPongTimeout = 4201

    /// The code a Pusher client gets instead: Pusher clients read 4000–4099 as "never
    /// reconnect" (and 4000 as "use TLS"), 4100–4199 as "reconnect with backoff" and 4200–4299 as
    /// "reconnect now", so a kick, a slow consumer and a shutdown each get the code that makes a
    /// Pusher client do the right thing.
    var forPusher: CloseCode {
        switch self {
        case .kicked: .pusherUnauthorized
        case .slowConsumer: .pusherOverCapacity
        case .goingAway: .reconnect
        default: self
        }
    }

    /// Whether a peer may send `code` in a close frame (RFC 6455 §7.4.1–7.4.2).
    static func isValidFromPeer(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }
}
