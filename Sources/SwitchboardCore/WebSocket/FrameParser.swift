public import NIOCore

/// Reads client WebSocket frames (RFC 6455 §5.2) from received bytes, enforcing the rules that
/// can be checked from a frame header alone before any payload is buffered: the length's top bit
/// is zero, a frame larger than the message limit is refused as soon as its header says so, and
/// control frames are final and at most 125 bytes.
///
/// The payload is handed out as a slice of the received buffer, still masked. Rules that span
/// frames (masking required, fragment order, UTF-8) belong to the session.
public struct FrameParser: Sendable {
    /// One frame as received.
    public struct Frame: Sendable {
        public var fin: Bool
        /// The three reserved bits, as the high nibble's low three bits (`0b0111_0000` mask).
        public var reservedBits: UInt8
        /// The 4-bit opcode (not checked here: reserved ones are the session's to refuse).
        public var opcode: UInt8
        /// The 4-byte masking key (a view into the received bytes), nil for an unmasked frame.
        public var maskKey: ByteBufferView?
        /// The payload, still masked.
        public var payload: ByteBuffer
    }

    /// Why the bytes cannot be a frame this server accepts.
    public enum Violation: Error, Equatable, Sendable {
        /// The declared length exceeds the limit (close 1009).
        case tooLarge(declared: UInt64)
        /// The frame breaks the framing rules (close 1002).
        case malformed(String)
    }

    /// Largest payload accepted in one frame, in bytes.
    public let maxPayload: Int

    public init(maxPayload: Int) {
        self.maxPayload = maxPayload
    }

    /// The next complete frame at the front of `buffer` (consumed), nil when more bytes are
    /// needed (nothing consumed), or a violation as soon as the header shows one.
    public func next(from buffer: inout ByteBuffer) throws(Violation) -> Frame? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        let opcode = first & 0x0F
        let fin = first & 0x80 != 0
        let masked = second & 0x80 != 0
        var offset = 2
        var length = UInt64(second & 0x7F)
        if opcode >= 0x8 {
            guard length <= 125 else { throw .malformed("control frame longer than 125 bytes") }
            guard fin else { throw .malformed("fragmented control frame") }
        }
        if length == 126 {
            guard let word = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = UInt64(word)
            offset = 4
        } else if length == 127 {
            guard let word = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard word & (1 << 63) == 0 else { throw .malformed("frame length has its most significant bit set") }
            length = word
            offset = 10
        }
        guard length <= UInt64(maxPayload) else { throw .tooLarge(declared: length) }
        var maskKey: ByteBufferView?
        if masked {
            guard let key = buffer.getSlice(at: start + offset, length: 4) else { return nil }
            maskKey = key.readableBytesView
            offset += 4
        }
        guard let payload = buffer.getSlice(at: start + offset, length: Int(length)) else { return nil }
        buffer.moveReaderIndex(forwardBy: offset + Int(length))
        return Frame(fin: fin, reservedBits: (first >> 4) & 0x07, opcode: opcode, maskKey: maskKey, payload: payload)
    }
}
