public import NIOCore

/// WebSocket frame bytes (RFC 6455 §5.2), built once and written as is.
///
/// Server frames are never masked, so one encoded frame can be handed to every subscriber of a
/// channel. Builders reserve the largest header up front, write the payload, then fill in the
/// header right before it: no second copy of the payload.
public enum WireFrame {
    /// Frame opcodes this server sends or reads.
    public enum Opcode: UInt8, Sendable {
        case continuation = 0x0
        case text = 0x1
        case binary = 0x2
        case close = 0x8
        case ping = 0x9
        case pong = 0xA
    }

    /// The largest header of an unmasked frame: 2 bytes plus a 64-bit length.
    public static let reservedHeaderBytes = 10

    /// Starts a frame: a buffer with header room reserved, ready for the payload to be appended.
    public static func begin(allocator: ByteBufferAllocator, payloadCapacity: Int) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: reservedHeaderBytes + payloadCapacity)
        buffer.writeRepeatingByte(0, count: reservedHeaderBytes)
        buffer.moveReaderIndex(forwardBy: reservedHeaderBytes)
        return buffer
    }

    /// Completes a frame started with ``begin(allocator:payloadCapacity:)``: everything readable
    /// becomes the payload of one final (FIN) frame of `opcode`; `compressed` sets RSV1, which
    /// marks a permessage-deflate message.
    public static func finish(_ buffer: inout ByteBuffer, opcode: Opcode, compressed: Bool = false) {
        let payloadLength = buffer.readableBytes
        let headerLength = headerSize(payloadLength: payloadLength, masked: false)
        let start = buffer.readerIndex - headerLength
        precondition(start >= 0, "frame was not started with WireFrame.begin")
        buffer.setInteger(0x80 | (compressed ? 0x40 : 0) | opcode.rawValue, at: start)
        switch headerLength {
        case 2:
            buffer.setInteger(UInt8(payloadLength), at: start + 1)
        case 4:
            buffer.setInteger(UInt8(126), at: start + 1)
            buffer.setInteger(UInt16(payloadLength), at: start + 2)
        default:
            buffer.setInteger(UInt8(127), at: start + 1)
            buffer.setInteger(UInt64(payloadLength), at: start + 2)
        }
        buffer.moveReaderIndex(to: start)
    }

    /// Header bytes for a payload of `payloadLength` bytes.
    public static func headerSize(payloadLength: Int, masked: Bool) -> Int {
        let base = payloadLength < 126 ? 2 : (payloadLength <= 0xFFFF ? 4 : 10)
        return masked ? base + 4 : base
    }

    /// The payload of a complete unmasked, uncompressed frame this server built (a slice, not a
    /// copy).
    public static func payload(of frame: ByteBuffer) -> ByteBuffer {
        guard let length = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) else { return ByteBuffer() }
        let header = length < 126 ? 2 : (length == 126 ? 4 : 10)
        return frame.getSlice(at: frame.readerIndex + header, length: max(0, frame.readableBytes - header)) ?? ByteBuffer()
    }

    /// A complete unmasked frame of `opcode` carrying `payload`.
    public static func make(_ opcode: Opcode, payload: some Collection<UInt8>, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = begin(allocator: allocator, payloadCapacity: payload.count)
        buffer.writeBytes(payload)
        finish(&buffer, opcode: opcode)
        return buffer
    }

    /// A close frame with a status code and a reason (cut to the 123 bytes a control frame allows,
    /// never inside a UTF-8 sequence).
    public static func close(code: UInt16, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        payload.append(contentsOf: truncatedUTF8(reason, maxBytes: 123))
        return make(.close, payload: payload, allocator: allocator)
    }

    /// `text`'s UTF-8 bytes, cut to at most `maxBytes` on a character boundary.
    public static func truncatedUTF8(_ text: String, maxBytes: Int) -> [UInt8] {
        var bytes = Array(text.utf8)
        guard bytes.count > maxBytes else { return bytes }
        var end = maxBytes
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        bytes.removeSubrange(end...)
        return bytes
    }

    /// Appends a masked frame (as clients must send, §5.3) to `buffer`.
    public static func writeMasked(
        _ opcode: Opcode,
        payload: UnsafeRawBufferPointer,
        maskKey: UInt32,
        fin: Bool = true,
        into buffer: inout ByteBuffer
    ) {
        let length = payload.count
        buffer.writeInteger((fin ? 0x80 : 0) | opcode.rawValue)
        if length < 126 {
            buffer.writeInteger(UInt8(0x80 | length))
        } else if length <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeInteger(maskKey)
        let mask: [UInt8] = [UInt8(maskKey >> 24), UInt8((maskKey >> 16) & 0xFF), UInt8((maskKey >> 8) & 0xFF), UInt8(maskKey & 0xFF)]
        buffer.reserveCapacity(minimumWritableBytes: length)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
            for i in 0..<length { out[i] = payload[i] ^ mask[i & 3] }
            return length
        }
    }
}
