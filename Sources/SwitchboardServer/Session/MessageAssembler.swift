import NIOCore
import NIOWebSocket
import SwitchboardCore

/// Turns a client's bytes into what the session must act on: complete messages, pings, pongs,
/// the peer's close frame, or the protocol violation that ends the connection.
///
/// It holds the rules of RFC 6455 and RFC 7692 for frames from a client: frames are masked;
/// RSV2 and RSV3 are never set, RSV1 only on the first frame of a message and only with
/// permessage-deflate; continuations continue something; a fragmented text message fails as soon
/// as its bytes cannot be UTF-8 (§8.1 "fail fast"); no message is larger than `messageLimit`,
/// counted once inflated too (``admitInflated(_:isText:)``). After a violation it parses
/// nothing more: the framing is lost.
///
/// A value type that returns actions, in the style of swift-websocket's state machines: the
/// session performs them, and the rules are tested without sockets.
struct MessageAssembler {
    /// What arrived, for the session to act on.
    enum Action: Equatable {
        /// A complete message, valid UTF-8 when `isText`.
        case message(ByteBuffer, isText: Bool)
        /// A complete compressed message: inflate it (stopping past the limit), then pass the
        /// result to ``admitInflated(_:isText:)``.
        case compressedMessage(ByteBuffer, isText: Bool)
        /// A ping with its payload, to be answered with a pong.
        case ping(ByteBuffer)
        case pong
        /// The peer's close frame, with its payload (code and reason, or nothing).
        case close(ByteBuffer)
        /// The client broke the protocol: close with this code; nothing after it is read.
        case fail(CloseCode, String)
    }

    /// A message whose frames are still arriving.
    private struct Fragments {
        var buffer: ByteBuffer
        var isText: Bool
        var compressed: Bool
        /// Bytes already known to be complete, valid UTF-8 (uncompressed text only).
        var validated = 0
    }

    /// Largest message, in bytes, before and after inflation.
    let messageLimit: Int
    /// Whether the handshake negotiated permessage-deflate (RSV1 marks compressed messages).
    let deflate: Bool
    private let parser: FrameParser
    /// The start of a frame whose remaining bytes have not arrived yet.
    private var unparsed: ByteBuffer?
    private var fragments: Fragments?
    /// Set after a violation: the framing is lost and nothing more is parsed.
    private(set) var isBroken = false

    init(messageLimit: Int, deflate: Bool) {
        self.messageLimit = messageLimit
        self.deflate = deflate
        self.parser = FrameParser(maxPayload: messageLimit)
    }

    /// The next thing to act on in `bytes` (the bytes of one read, taken over on the first call
    /// and then `nil`), or nil when the rest of a frame has yet to arrive. Call until it returns
    /// nil.
    mutating func next(from bytes: inout ByteBuffer?) -> Action? {
        guard !isBroken else { return nil }
        if var arrived = bytes {
            bytes = nil
            if var earlier = unparsed {
                earlier.writeBuffer(&arrived)
                unparsed = earlier
            } else {
                unparsed = arrived
            }
        }
        while var buffer = unparsed {
            unparsed = nil
            let frame: FrameParser.Frame?
            do {
                frame = try parser.next(from: &buffer)
            } catch {
                switch error {
                case .tooLarge: return fail(.messageTooBig, "message larger than \(messageLimit) bytes")
                case .malformed(let reason): return fail(.protocolError, reason)
                }
            }
            if buffer.readableBytes > 0 { unparsed = buffer }
            guard let frame else { return nil }
            if let action = take(WebSocketFrame(frame)) { return action }
        }
        return nil
    }

    /// Checks a message once inflated: at most `messageLimit` bytes, to the byte, and valid
    /// UTF-8 when it is text.
    mutating func admitInflated(_ data: ByteBuffer, isText: Bool) -> Action {
        guard data.readableBytes <= messageLimit else { return fail(.messageTooBig, "message larger than \(messageLimit) bytes once inflated") }
        if isText, !data.withUnsafeReadableBytes(UTF8Validation.isValid) { return fail(.invalidPayload, "text frame is not valid UTF-8") }
        return .message(data, isText: isText)
    }

    /// A compressed message that is not a valid deflate stream, or inflates past the limit.
    mutating func failInflating(tooLarge: Bool) -> Action {
        tooLarge
            ? fail(.messageTooBig, "message larger than \(messageLimit) bytes once inflated")
            : fail(.invalidPayload, "compressed message is not a valid deflate stream")
    }

    private mutating func take(_ frame: WebSocketFrame) -> Action? {
        guard frame.maskKey != nil else { return fail(.protocolError, "client frames must be masked") }
        guard !frame.rsv2 && !frame.rsv3 else { return fail(.protocolError, "reserved bits set without a negotiated extension") }
        let startsMessage = frame.opcode == .text || frame.opcode == .binary
        if frame.rsv1 && (!deflate || !startsMessage) {
            return fail(.protocolError, deflate ? "RSV1 set on a frame that does not start a message" : "RSV1 set without permessage-deflate")
        }
        switch frame.opcode {
        case .text, .binary:
            guard fragments == nil else { return fail(.protocolError, "new message before the previous one finished") }
            let isText = frame.opcode == .text
            if frame.fin { return complete(frame.unmaskedData, isText: isText, compressed: frame.rsv1) }
            fragments = Fragments(buffer: frame.unmaskedData, isText: isText, compressed: frame.rsv1)
            return failFastOnInvalidText()
        case .continuation:
            guard var message = fragments else { return fail(.protocolError, "continuation without a message to continue") }
            fragments = nil
            guard message.buffer.readableBytes + frame.length <= messageLimit else {
                return fail(.messageTooBig, "message larger than \(messageLimit) bytes")
            }
            var part = frame.unmaskedData
            message.buffer.writeBuffer(&part)
            if frame.fin { return complete(message.buffer, isText: message.isText, compressed: message.compressed) }
            fragments = message
            return failFastOnInvalidText()
        case .ping:
            return .ping(frame.unmaskedData)
        case .pong:
            return .pong
        case .connectionClose:
            return .close(frame.unmaskedData)
        default:
            return fail(.protocolError, "unknown opcode")
        }
    }

    private mutating func complete(_ payload: ByteBuffer, isText: Bool, compressed: Bool) -> Action {
        if compressed { return .compressedMessage(payload, isText: isText) }
        if isText, !payload.withUnsafeReadableBytes(UTF8Validation.isValid) { return fail(.invalidPayload, "text frame is not valid UTF-8") }
        return .message(payload, isText: isText)
    }

    /// Fails a fragmented text message as soon as its bytes so far cannot be UTF-8, rather than
    /// when it ends. Compressed messages are checked once inflated.
    private mutating func failFastOnInvalidText() -> Action? {
        guard let message = fragments, message.isText, !message.compressed else { return nil }
        let checked = message.buffer.withUnsafeReadableBytes { bytes in
            UTF8Validation.completePrefixLength(UnsafeRawBufferPointer(rebasing: bytes[message.validated...]))
        }
        guard let checked else { return fail(.invalidPayload, "text frame is not valid UTF-8") }
        fragments?.validated += checked
        return nil
    }

    private mutating func fail(_ code: CloseCode, _ reason: String) -> Action {
        isBroken = true
        fragments = nil
        unparsed = nil
        return .fail(code, reason)
    }
}
