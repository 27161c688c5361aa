import CompressNIO
import NIOCore
import SwitchboardCore

/// The zlib streams of permessage-deflate for one event loop, shared by all its sessions.
///
/// Every negotiation says no context takeover in either direction (see ``DeflateParameters``), so
/// each message is inflated or deflated on its own and a stream is reset between messages: one
/// inflater and one deflater per window size serve every client of the loop. Loop-confined.
final class LoopCompression {
    /// Why a compressed message could not be inflated.
    enum InflateFailure: Error {
        /// It inflates to more than the message limit (a zip bomb, or just too big): 1009.
        case tooLarge
        /// Not a valid deflate stream: 1007.
        case corrupt
    }

    private var inflater: ZlibDecompressor?
    private var deflaters: [Int: ZlibCompressor] = [:]

    /// The message inside a compressed one, stopping as soon as it grows past `limit` bytes
    /// (buffers grow in powers of two, so the output is checked against `limit` itself too).
    func inflate(_ compressed: ByteBuffer, limit: Int, allocator: ByteBufferAllocator) throws(InflateFailure) -> ByteBuffer {
        do {
            let inflater = try self.inflater ?? ZlibDecompressor(algorithm: .deflate, windowSize: 15)
            self.inflater = inflater
            try inflater.reset()
            var input = compressed
            input.writeBytes([0x00, 0x00, 0xFF, 0xFF])  // the tail RFC 7692 §7.2.2 strips
            var output = allocator.buffer(capacity: min(limit + 1, max(256, compressed.readableBytes * 4)))
            while true {
                do {
                    try inflater.inflate(from: &input, to: &output)
                    guard output.readableBytes <= limit else { throw InflateFailure.tooLarge }
                    return output
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    guard output.readableBytes <= limit else { throw InflateFailure.tooLarge }
                    output.reserveCapacity(minimumWritableBytes: min(max(output.capacity, 1024), limit + 1 - output.readableBytes))
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    guard output.readableBytes <= limit else { throw InflateFailure.tooLarge }
                    return output  // all input consumed: the sync marker ends the message
                }
            }
        } catch let failure as InflateFailure {
            throw failure
        } catch {
            throw .corrupt
        }
    }

    /// One final frame of `opcode` carrying `payload` compressed (RSV1 set), or nil if zlib failed
    /// (the caller sends it uncompressed, which permessage-deflate allows).
    func compressedFrame(_ opcode: WireFrame.Opcode, payload: ByteBuffer, windowBits: Int, allocator: ByteBufferAllocator) -> ByteBuffer? {
        do {
            let deflater = try deflaters[windowBits] ?? ZlibCompressor(algorithm: .deflate, configuration: .init(windowSize: Int32(windowBits)))
            deflaters[windowBits] = deflater
            try deflater.reset()
            var input = payload
            var frame = WireFrame.begin(allocator: allocator, payloadCapacity: deflater.maxSize(from: input))
            try deflater.deflate(from: &input, to: &frame, flush: .sync)
            guard input.readableBytes == 0, frame.readableBytes >= 4 else { return nil }
            frame.moveWriterIndex(to: frame.writerIndex - 4)  // drop 00 00 FF FF (RFC 7692 §7.2.1)
            WireFrame.finish(&frame, opcode: opcode, compressed: true)
            return frame
        } catch {
            return nil
        }
    }
}
