import NIOCore
import SwitchboardCore

/// How a session's connection ends (RFC 6455 §7): one state instead of loose flags, and one
/// way into closing whoever starts it.
///
/// The session asks it what to do — answer the peer's close frame with which code, whether a
/// close frame completes the handshake, what to record when the transport ends first — and
/// performs the answer. How it ended (code, reason, who) is kept for the disconnect event, the
/// log line and the client's row while it closes.
struct CloseHandshake {
    /// How the connection ended or is ending.
    struct Ending: Equatable, Sendable {
        var code: UInt16
        var reason: String
        /// Whether the server started the close (a kick, a slow consumer, a violation, shutdown).
        var byServer: Bool
    }

    enum State: Equatable {
        case open
        /// A close frame is queued or sent; waiting for the peer's close frame or end of stream.
        case closing(Ending)
        /// The connection is gone; the session has left the hub.
        case closed(Ending)
    }

    private(set) var state = State.open

    /// What to answer to the peer's close frame.
    enum PeerCloseAnswer: Equatable {
        /// Echo this code (and reason) in our close frame, then close the socket.
        case reply(code: UInt16, reason: String)
        /// We had sent our close frame first: the handshake is complete, close the socket.
        case closeSocket
        /// Already gone: nothing to do.
        case ignore
    }

    /// Asked on every push, so a pattern match rather than the synthesised `==`, which would
    /// compare endings.
    var isOpen: Bool {
        if case .open = state { true } else { false }
    }

    var isClosed: Bool {
        if case .closed = state { true } else { false }
    }

    /// How it ended, or is ending; nil while open.
    var ending: Ending? {
        switch state {
        case .open: nil
        case .closing(let ending), .closed(let ending): ending
        }
    }

    /// The server starts closing with `code`; false when the connection is already closing.
    mutating func serverCloses(code: UInt16, reason: String) -> Bool {
        guard isOpen else { return false }
        state = .closing(Ending(code: code, reason: reason, byServer: true))
        return true
    }

    /// The peer's close frame arrived with `payload`: decides the answer (its own code back, or
    /// 1002 for a malformed code, 1007 for a reason that is not UTF-8) and records the ending.
    mutating func peerCloses(payload: ByteBuffer) -> PeerCloseAnswer {
        switch state {
        case .closing: return .closeSocket
        case .closed: return .ignore
        case .open: break
        }
        var payload = payload
        let answer: PeerCloseAnswer
        var ending = Ending(code: 1005, reason: "", byServer: false)
        switch payload.readableBytes {
        case 0:
            answer = .reply(code: CloseCode.normal.rawValue, reason: "")
        case 1:
            answer = .reply(code: CloseCode.protocolError.rawValue, reason: "close frame payload of one byte")
        default:
            let code = payload.readInteger(as: UInt16.self)!
            ending.code = code
            if !CloseCode.isValidFromPeer(code) {
                answer = .reply(code: CloseCode.protocolError.rawValue, reason: "invalid close code \(code)")
            } else if !payload.withUnsafeReadableBytes(UTF8Validation.isValid) {
                answer = .reply(code: CloseCode.invalidPayload.rawValue, reason: "close reason is not valid UTF-8")
            } else {
                ending.reason = String(buffer: payload)
                answer = .reply(code: code, reason: "")
            }
        }
        state = .closing(ending)
        return answer
    }

    /// The transport ended or failed before a close handshake finished (end of input, an error,
    /// the shutdown deadline): records `code` and `reason` unless an ending is already known.
    mutating func transportEnds(code: UInt16, reason: String, byServer: Bool = false) {
        guard isOpen else { return }
        state = .closing(Ending(code: code, reason: reason, byServer: byServer))
    }

    /// The connection is gone; false if it already was (leave the hub exactly once).
    mutating func finish() -> Bool {
        switch state {
        case .closed: return false
        case .open: state = .closed(Ending(code: 1006, reason: "connection lost", byServer: false))
        case .closing(let ending): state = .closed(ending)
        }
        return true
    }
}
