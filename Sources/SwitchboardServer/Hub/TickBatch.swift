import NIOCore

/// The frames a shard fans out to one channel during one event-loop tick, one after another in a
/// single buffer shared by the channel's subscribers.
///
/// A subscriber that gets consecutive frames of a batch keeps only their range; at the flush it
/// writes one slice of these bytes, so thirty frames to a thousand subscribers cost one copy per
/// frame and one write per subscriber, with no buffer of each subscriber's own. The shard seals
/// its batches when the tick's flush begins: slices may be taken only then, because appending to
/// a buffer that slices share would copy it. Loop-confined.
final class TickBatch {
    /// Largest batch: a full one is sealed and the channel's next frames start another.
    static let capacity = 16 * 1024
    /// Frames up to this size are batched; larger ones go to each subscriber as they are.
    static let frameLimit = 4 * 1024

    private var bytes: ByteBuffer
    /// Whether the batch takes no more frames (its bytes may be shared by slices).
    private(set) var isSealed = false

    init(allocator: ByteBufferAllocator) {
        bytes = allocator.buffer(capacity: 1024)
    }

    /// Whether `frame` still fits.
    func hasRoom(for frame: ByteBuffer) -> Bool {
        !isSealed && bytes.readableBytes + frame.readableBytes <= Self.capacity
    }

    /// Appends a frame and returns where it lies among the batch's bytes.
    func append(_ frame: ByteBuffer) -> Range<Int> {
        precondition(!isSealed, "a sealed batch is shared by slices")
        let start = bytes.readableBytes
        bytes.writeImmutableBuffer(frame)
        return start..<bytes.readableBytes
    }

    /// No more frames: from now on, slices share the bytes.
    func seal() {
        isSealed = true
    }

    /// The frames in `range`: a slice of the shared bytes once sealed, a copy before.
    func frames(in range: Range<Int>, allocator: ByteBufferAllocator) -> ByteBuffer {
        if isSealed { return bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)! }
        var frames = allocator.buffer(capacity: range.count)
        copy(range, into: &frames)
        return frames
    }

    /// Appends a copy of the frames in `range` to `buffer`.
    func copy(_ range: Range<Int>, into buffer: inout ByteBuffer) {
        bytes.withUnsafeReadableBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}
