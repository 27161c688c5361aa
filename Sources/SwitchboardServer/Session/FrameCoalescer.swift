import NIOCore

/// The frames handed to one client during one event-loop tick, on their way to its socket: what
/// to write now, and what to hold back so that the whole tick reaches the channel as one buffer.
///
/// Writing a frame through a NIO pipeline costs far more than copying a small one, so a
/// client's frames of a tick are joined: consecutive frames of a ``TickBatch`` are kept as a
/// range of the batch's shared bytes (nothing copied); other small frames are copied into one
/// buffer of the client's own; a single frame stays as it is; a large frame is written as it
/// is, after whatever was held back. The order of the bytes written is always the order of the
/// frames added. Every call returns what must be written now, in order; ``take()``
/// returns the rest at the flush.
struct FrameCoalescer {
    /// Frames up to this size are copied when joined; larger ones are written as they are
    /// (measured: copying 1 KB frames into per-client buffers cost more than the writes saved).
    static let frameLimit = 256
    /// Room for a tick's frames, allocated when a second small frame arrives.
    static let initialCapacity = 4096
    /// Held-back bytes of the client's own are handed over once they reach this size, so the
    /// channel's writability (and with it the slow-consumer policy) sees them in time.
    static let bytesLimit = 16 * 1024

    /// Allocates the buffers of a client's own (NIO's default allocator, as the channels use;
    /// asking each channel for its allocator costs a pipeline walk per frame).
    private static let allocator = ByteBufferAllocator()

    /// Buffers to write to the channel now, first `0`, then `1`.
    typealias Ready = (ByteBuffer?, ByteBuffer?)

    private enum Pending {
        case none
        /// One frame, shared with other clients: written as it is, uncopied.
        case single(ByteBuffer)
        /// Consecutive frames of a tick batch: written as one slice of its bytes.
        case run(TickBatch, Range<Int>)
        /// Several frames, copied into a buffer of this client's own.
        case own(ByteBuffer)
    }

    private var pending = Pending.none

    init() {}

    /// Adds a frame.
    mutating func add(_ frame: ByteBuffer) -> Ready {
        guard frame.readableBytes <= Self.frameLimit else { return (take(), frame) }
        switch pending {
        case .none:
            pending = .single(frame)
        case .single(let first):
            var own = Self.allocator.buffer(capacity: Self.initialCapacity)
            own.writeImmutableBuffer(first)
            own.writeImmutableBuffer(frame)
            pending = .own(own)
        case .run(let batch, let run):
            var own = Self.allocator.buffer(capacity: max(Self.initialCapacity, run.count + frame.readableBytes))
            batch.copy(run, into: &own)
            own.writeImmutableBuffer(frame)
            pending = .own(own)
        case .own(var own):
            pending = .none  // keeps `own` uniquely referenced while it grows
            own.writeImmutableBuffer(frame)
            pending = .own(own)
        }
        if case .own(let own) = pending, own.readableBytes >= Self.bytesLimit { return (take(), nil) }
        return (nil, nil)
    }

    /// Adds a fan-out frame that also lies at `range` in `batch`: it extends the run of the
    /// batch's frames already held (nothing copied), starts one, or, when other frames came in
    /// between, is added like any other frame.
    mutating func add(_ frame: ByteBuffer, at range: Range<Int>, of batch: TickBatch) -> Ready {
        switch pending {
        case .none:
            pending = .run(batch, range)
            return (nil, nil)
        case .run(let current, let run) where current === batch && run.upperBound == range.lowerBound:
            pending = .run(batch, run.lowerBound..<range.upperBound)
            return (nil, nil)
        case .run(let current, _) where current.isSealed:
            // The channel's batch filled up and a new one began: the finished run goes out as a
            // slice, and a new run starts.
            let finished = take()
            pending = .run(batch, range)
            return (finished, nil)
        default:
            return add(frame)
        }
    }

    /// Everything held back, as one buffer, or nil when nothing is.
    mutating func take() -> ByteBuffer? {
        defer { pending = .none }
        switch pending {
        case .none: return nil
        case .single(let bytes), .own(let bytes): return bytes
        case .run(let batch, let run): return batch.frames(in: run, allocator: Self.allocator)
        }
    }

    /// Forgets what is held back (the connection is gone).
    mutating func discard() {
        pending = .none
    }
}
