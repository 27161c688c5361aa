import CompressNIO
import NIOCore

/// Reads a gzip file's lines as far as they go: a file cut short (a recorder that was killed, a
/// truncated copy) or corrupt somewhere still gives every whole line before the damage, and says
/// what went wrong. Concatenated gzip members are read one after the other, as `zcat` does.
struct GzipReader {
    /// The whole lines, without their newlines.
    var lines: [ArraySlice<UInt8>] = []
    /// Why the lines stop early (nil: the file ended cleanly after its trailer).
    var damage: String?

    /// Whether `bytes` starts like a gzip file.
    static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    init(_ bytes: [UInt8]) throws {
        let inflater = try ZlibDecompressor(algorithm: .gzip, windowSize: 15)
        var input = ByteBuffer(bytes: bytes)
        var text: [UInt8] = []
        var output = ByteBuffer()
        output.reserveCapacity(1 << 20)
        reading: while true {
            output.clear()
            do {
                try inflater.inflate(from: &input, to: &output)
                text.append(contentsOf: output.readableBytesView)
                if input.readableBytes > 0 {
                    // The member ended before the input did: another member, or trailing bytes.
                    guard input.readableBytesView.starts(with: [0x1F, 0x8B]) else {
                        damage = "unexpected bytes after the end of the gzip data"
                        break reading
                    }
                    try inflater.reset()
                    continue
                }
                // Every byte was used: did the member end there? A finished stream refuses more.
                var probe = ByteBuffer(bytes: [0])
                var sink = ByteBuffer()
                sink.reserveCapacity(64)
                if (try? inflater.inflate(from: &probe, to: &sink)) == nil || probe.readableBytes == 0 {
                    damage = "the file ends in the middle of the gzip data (cut short, or the recorder was stopped abruptly)"
                }
                break reading
            } catch let error as CompressNIOError where error == .bufferOverflow {
                text.append(contentsOf: output.readableBytesView)
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                text.append(contentsOf: output.readableBytesView)
                damage = "the file ends in the middle of the gzip data (cut short, or the recorder was stopped abruptly)"
                break reading
            } catch {
                text.append(contentsOf: output.readableBytesView)
                damage = "the gzip data is corrupt (\(error))"
                break reading
            }
        }
        var start = 0
        for (index, byte) in text.enumerated() where byte == UInt8(ascii: "\n") {
            lines.append(text[start..<index])
            start = index + 1
        }
        if start < text.count && damage == nil { lines.append(text[start...]) }
    }
}
