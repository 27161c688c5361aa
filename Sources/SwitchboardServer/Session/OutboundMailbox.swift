import DequeModule
import NIOCore
import SwitchboardCore

/// A session's bounded, instrumented outbound mailbox: frames for the client wait here only
/// while its socket cannot take more, and a full mailbox applies the slow-consumer policy.
///
/// A value type that decides; the session performs what it returns (write now, keep, close).
/// Its figures (enqueued, dequeued, peak, dropped, depth, bytes) are what the console's client
/// rows and `/metrics` show.
struct OutboundMailbox {
    /// What to do with a frame just pushed.
    enum Decision: Equatable {
        /// Hand it to the channel now (nothing waits before it and the socket is writable).
        case write
        /// It waits in the mailbox (older frames may have been dropped to make room).
        case queued
        /// The mailbox is full and the policy is to close: the client is a slow consumer.
        case closeSlowConsumer
    }

    /// The bounds and the policy; `nil` for a mailbox without bounds (the echo route, whose flow
    /// control is backpressure).
    struct Limits {
        var frames: Int
        var bytes: Int
        var policy: HubConfiguration.SlowConsumerPolicy
    }

    /// Frames waiting for the socket to become writable (empty, and unallocated, while the
    /// client keeps up).
    private var frames = Deque<ByteBuffer>()
    private(set) var queuedBytes = 0
    private var counts = MailboxCounts()

    /// Decides what happens to `frame`, given whether the socket takes writes now. `limits` is
    /// read only when the frame cannot be written at once (not on the per-delivery fast path).
    mutating func push(_ frame: ByteBuffer, writable: Bool, limits: @autoclosure () -> Limits?) -> Decision {
        counts.enqueued += 1
        if frames.isEmpty && writable {
            counts.dequeued += 1
            return .write
        }
        let size = frame.readableBytes
        if let limits = limits(), frames.count >= limits.frames || queuedBytes + size > limits.bytes {
            switch limits.policy {
            case .close:
                counts.dropped += 1
                return .closeSlowConsumer
            case .dropOldest:
                while let oldest = frames.first, frames.count >= limits.frames || queuedBytes + size > limits.bytes {
                    queuedBytes -= oldest.readableBytes
                    frames.removeFirst()
                    counts.dropped += 1
                }
            }
        }
        frames.append(frame)
        queuedBytes += size
        counts.peak = max(counts.peak, frames.count)
        return .queued
    }

    /// The oldest waiting frame, to hand to the channel now that it is writable.
    mutating func pop() -> ByteBuffer? {
        guard let frame = frames.popFirst() else { return nil }
        queuedBytes -= frame.readableBytes
        counts.dequeued += 1
        return frame
    }

    /// Drops everything waiting (a close that discards what is queued), counting it as dropped.
    mutating func discard() {
        counts.dropped += frames.count
        removeAll()
    }

    /// Empties the mailbox without counting (the connection is gone).
    mutating func removeAll() {
        frames.removeAll()
        queuedBytes = 0
    }

    var isEmpty: Bool { frames.isEmpty }

    /// Frames waiting.
    var depth: Int { frames.count }

    /// The figures now, depth and bytes included.
    var figures: MailboxCounts {
        var figures = counts
        figures.depth = frames.count
        figures.queuedBytes = queuedBytes
        return figures
    }
}
