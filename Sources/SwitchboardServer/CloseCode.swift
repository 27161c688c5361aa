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
    /// The server asks the client to reconnect (e.g. during a rolling restart).
    case reconnect = 4200

    /// Whether a peer may send `code` in a close frame (RFC 6455 §7.4.1–7.4.2).
    static func isValidFromPeer(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }
}
