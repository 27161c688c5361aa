import NIOCore
import SwitchboardCore

/// A session's tap: while some trace follows the client (``Session/taps`` is not nil), what it
/// sends and what it is sent become trace lines. Nothing here runs for an untraced client.
extension Session {
    /// The user a trace of users knows the client as.
    var tracedUser: String? { identity.user ?? pusher?.signedInUser }

    /// One line to each trace following this client.
    func trace(
        _ kind: TraceLine.Kind, _ direction: TraceLine.Direction?, channel: String? = nil, seq: UInt64? = nil, bytes: Int? = nil,
        latencyMicros: Int? = nil, code: Int? = nil, data: ByteBuffer? = nil
    ) {
        guard let taps else { return }
        let mailbox = kind == .delivery || kind == .drop ? queuedFrames : nil
        for sink in taps {
            sink.offer {
                let (text, truncated) = data.map(sink.cut) ?? (nil, false)
                return TraceLine(
                    time: WallClock.now(), node: sink.node, kind: kind, direction: direction, client: id, user: tracedUser, channel: channel,
                    seq: seq, bytes: bytes, mailbox: mailbox, latencyMicros: latencyMicros, code: code, data: text, truncated: truncated)
            }
        }
    }

    /// What the client sent: a request (native or Pusher), a ping, a pong or its close frame.
    func traceInbound(_ action: MessageAssembler.Action) {
        switch action {
        case .message(let data, _):
            trace(.request, .in, bytes: data.readableBytes, data: data)
        case .ping(let payload):
            trace(.ping, .in, bytes: payload.readableBytes)
        case .pong:
            trace(.pong, .in)
        case .close(var payload):
            let code = payload.readInteger(as: UInt16.self).map(Int.init)
            trace(.close, .in, code: code, data: payload.readableBytes > 0 ? payload : nil)
        case .compressedMessage, .fail:
            break  // traced once inflated; a failure is traced as the close it causes
        }
    }

    /// A frame the server sends the client outside the fan-out: a reply (a refusal when it is
    /// an error), a ping, a pong, or a message sent to this client alone (one replayed to a
    /// resuming subscriber, an operator broadcast), which is a delivery.
    func traceOutbound(_ frame: ByteBuffer) {
        guard let (opcode, payload) = Self.unframe(frame) else { return }
        switch opcode {
        case WireFrame.Opcode.ping.rawValue: trace(.ping, .out, bytes: payload?.readableBytes)
        case WireFrame.Opcode.pong.rawValue: trace(.pong, .out, bytes: payload?.readableBytes)
        case WireFrame.Opcode.text.rawValue:
            guard let payload else { return trace(.reply, .out) }
            if let refusal = Self.refusal(in: payload) {
                trace(.refused, .out, bytes: payload.readableBytes, code: refusal.code, data: payload)
            } else if let message = Self.message(in: payload) {
                trace(.delivery, .out, channel: message.channel, seq: message.seq, bytes: payload.readableBytes, data: message.data ?? payload)
            } else {
                trace(.reply, .out, bytes: payload.readableBytes, data: payload)
            }
        default:
            break
        }
    }

    /// Refuses a request about `channel` with `error`; the channel's traces see it as a
    /// `refused` line.
    func refuse(_ error: ProtocolError, id: ByteBuffer?, on channel: String) {
        if !shard.traces.channels.isEmpty { shard.traceRefusal(of: self, in: channel, "\(error.code.rawValue): \(error.message)", code: nil) }
        reply(ServerMessage.error(error, id: id, allocator: shard.hub.allocator))
    }

    /// The server closes the connection with `code`.
    func traceServerClose(code: UInt16, reason: String) {
        trace(.close, .out, code: Int(code), data: reason.isEmpty ? nil : ByteBuffer(string: reason))
    }

    /// The opcode of a whole unmasked frame and its payload (nil when compressed).
    private static func unframe(_ frame: ByteBuffer) -> (opcode: UInt8, payload: ByteBuffer?)? {
        guard let first = frame.getInteger(at: frame.readerIndex, as: UInt8.self),
            let second = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self)
        else { return nil }
        var header = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            length = Int(frame.getInteger(at: frame.readerIndex + 2, as: UInt16.self) ?? 0)
            header += 2
        } else if length == 127 {
            length = Int(frame.getInteger(at: frame.readerIndex + 2, as: UInt64.self) ?? 0)
            header += 8
        }
        let compressed = first & 0x40 != 0
        let payload = compressed ? nil : frame.getSlice(at: frame.readerIndex + header, length: length)
        return (first & 0x0F, payload)
    }

    /// A native `message` or `broadcast` frame's channel, seq and data, if `text` is one.
    private static func message(in text: ByteBuffer) -> (channel: String?, seq: UInt64?, data: ByteBuffer?)? {
        let view = text.readableBytesView
        guard view.starts(with: #"{"type":"message""#.utf8) || view.starts(with: #"{"type":"broadcast""#.utf8),
            let object = try? JSONObject(parsing: Array(view))
        else { return nil }
        return (object.string("channel"), object.int("seq").map { UInt64(clamping: $0) }, object.raw("data").map { ByteBuffer(bytes: $0) })
    }

    /// A reply that refuses something: a native `error`, `pusher:error` or
    /// `pusher:subscription_error`, with the Pusher code or status (native codes are words, in
    /// the data).
    private struct Refusal {
        var code: Int?
    }

    /// The refusal `text` is, if it is one.
    private static func refusal(in text: ByteBuffer) -> Refusal? {
        let view = text.readableBytesView
        if view.starts(with: #"{"type":"error""#.utf8) { return Refusal() }
        guard view.starts(with: #"{"event":"pusher:"#.utf8), let object = try? JSONObject(parsing: Array(view)),
            let event = object.string("event"), event == "pusher:error" || event == "pusher:subscription_error"
        else { return nil }
        let data = object.raw("data").flatMap { try? JSONObject(parsing: Array($0)) }
        return Refusal(code: data?.int("code") ?? data?.int("status"))
    }
}

extension TraceTarget {
    /// Whether a trace of this target follows `session` (a client trace also knows a Pusher
    /// client by its socket id).
    func follows(_ session: Session) -> Bool {
        switch self {
        case .client(let id): session.id == id || session.pusher?.socketID == id
        case .user(let name): session.tracedUser == name
        case .channel: false
        }
    }
}
