import DequeModule

/// What one trace holds for its reader: a bounded queue of messages, the `trace-rate` budget,
/// and the count of lines left out (over the rate, or because the reader fell behind) that the
/// next `trace_skipped` reports.
///
/// A plain value: time comes in as monotonic nanoseconds, so tests drive it without sleeping.
/// The caller keeps it behind a lock; nothing here waits.
public struct TraceBuffer: Sendable {
    /// The trace's id (`t3`).
    public let trace: String
    /// Most messages waiting for the reader; past it lines are skipped (and counted).
    public let capacity: Int
    /// Most bytes of `data` waiting for the reader (with `trace-payloads full` a line may carry
    /// a whole message); past it lines are skipped too.
    public let byteCapacity: Int
    /// Bytes of `data` waiting now.
    public private(set) var bytes = 0
    private var budget: TokenBucket
    private var queue = Deque<TraceMessage>()
    /// Lines left out since the last `trace_skipped`.
    public private(set) var skipped = 0
    /// Whether `trace_started` was queued (lines queued before it follow it).
    public private(set) var started = false
    /// Whether `trace_ended` was queued: nothing more is taken.
    public private(set) var ended = false

    /// `rate` lines per second at most (a second's worth in a burst; 0 is no limit).
    public init(trace: String, rate: Double, capacity: Int, byteCapacity: Int = 4 << 20, now: UInt64) {
        self.trace = trace
        self.capacity = max(2, capacity)
        self.byteCapacity = byteCapacity
        self.budget = TokenBucket(rate: rate, burst: rate, now: now)
    }

    /// Messages waiting for the reader.
    public var count: Int { queue.count }

    /// Queues `trace_started` ahead of every line already queued.
    public mutating func start(_ target: TraceTarget) {
        guard !started, !ended else { return }
        started = true
        queue.prepend(.started(trace: trace, target: target))
    }

    /// Whether a line seen at `now` is within the rate and finds room; when it is not, it is
    /// counted as skipped. Ask before building the line: a refused line costs nothing more.
    public mutating func admits(now: UInt64) -> Bool {
        guard !ended else { return false }
        guard budget.take(now: now), queue.count < capacity else {
            skipped += 1
            return false
        }
        return true
    }

    /// Queues a line ``admits(now:)`` let through, after the `trace_skipped` it is owed; a
    /// line whose data does not fit in ``byteCapacity`` is skipped instead.
    public mutating func append(_ line: TraceLine) {
        guard !ended else { return }
        let size = line.data?.utf8.count ?? 0
        guard bytes + size <= byteCapacity else {
            skipped += 1
            return
        }
        reportSkipped()
        bytes += size
        queue.append(.line(trace: trace, line))
    }

    /// Counts lines left out elsewhere (another node's part of the trace skipped them).
    public mutating func countSkipped(_ count: Int) {
        guard !ended, count > 0 else { return }
        skipped += count
    }

    /// Queues a `trace_skipped` for the lines left out so far, when there were some (and
    /// room); called with each line and on the trace's beat, so a count never waits long.
    public mutating func reportSkipped() {
        guard skipped > 0, !ended, queue.count < capacity else { return }
        queue.append(.skipped(trace: trace, count: skipped))
        skipped = 0
    }

    /// Queues the last messages: what was skipped, then `trace_ended` (both beyond the bound,
    /// so a reader always learns why its trace ended).
    public mutating func end(reason: String) {
        guard !ended else { return }
        if skipped > 0 { queue.append(.skipped(trace: trace, count: skipped)) }
        skipped = 0
        ended = true
        queue.append(.ended(trace: trace, reason: reason))
    }

    /// The next message for the reader (only once the trace started), oldest first.
    public mutating func next() -> TraceMessage? {
        guard started || ended, let message = queue.popFirst() else { return nil }
        if case .line(_, let line) = message { bytes -= line.data?.utf8.count ?? 0 }
        return message
    }
}
