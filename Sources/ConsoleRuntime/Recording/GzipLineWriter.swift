import CompressNIO
import Foundation
import NIOCore

/// Writes lines to a gzip file: one gzip member (header, deflate, CRC-32 and size trailer, all
/// made by zlib) whose data is synced to the file at every ``flush()``, so a process that dies
/// leaves a file `zcat` reads up to the last flush. ``finish()`` writes the trailer.
final class GzipLineWriter {
    private let file: FileHandle
    private let deflater: ZlibCompressor
    private var pending = ByteBuffer()
    /// Lines were compressed since the last flush (or are waiting to be).
    private var dirty = false
    private var finished = false
    /// Compressed bytes written to the file so far.
    private(set) var bytesWritten = 0

    /// Creates (or empties) the file at `path`.
    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw RecordingError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        guard let file = FileHandle(forWritingAtPath: path) else { throw RecordingError("cannot open \(path) for writing") }
        self.file = file
        self.deflater = try ZlibCompressor(algorithm: .gzip, configuration: .init(windowSize: 15, compressionLevel: 6))
    }

    /// Adds one line (a newline is added).
    func append(line: some Collection<UInt8>) throws {
        pending.writeBytes(line)
        pending.writeInteger(UInt8(ascii: "\n"))
        dirty = true
        if pending.readableBytes >= 1 << 16 { try compress(flush: .no) }
    }

    /// Compresses what was appended and writes it, byte-aligned, so a reader can decode every
    /// line so far.
    func flush() throws {
        try compress(flush: .sync)
    }

    /// Ends the gzip member (the trailer) and closes the file; again, does nothing.
    func finish() throws {
        guard !finished else { return }
        finished = true
        defer { try? file.close() }
        try compress(flush: .finish)
    }

    private func compress(flush: CompressNIOFlush) throws {
        // A sync flush with nothing new makes no progress (zlib says Z_BUF_ERROR): skip it.
        guard dirty || flush == .finish else { return }
        var output = ByteBuffer()
        output.reserveCapacity(deflater.maxSize(from: pending) + 64)
        while true {
            if output.writableBytes < 4096 { output.reserveCapacity(minimumWritableBytes: max(4096, output.readableBytes)) }
            do {
                try deflater.deflate(from: &pending, to: &output, flush: flush)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                continue  // the output filled up: grow it and go on
            }
            // Done when the input is used up and zlib had room left (it had nothing more to say).
            if pending.readableBytes == 0 && output.writableBytes > 0 { break }
        }
        pending.clear()
        dirty = flush == .no
        guard output.readableBytes > 0 else { return }
        bytesWritten += output.readableBytes
        try file.write(contentsOf: Data(output.readableBytesView))
    }
}
