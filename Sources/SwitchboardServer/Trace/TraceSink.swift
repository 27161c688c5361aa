import NIOConcurrencyHelpers
import NIOCore
import SwitchboardCore

/// One running trace as the taps see it: where the shards' lines go (a bounded ``TraceBuffer``
/// behind a lock) and where its reader takes them from. Offering a line never waits and never
/// grows memory past the buffer: a line over `trace-rate` or past a slow reader's bound is only
/// counted, for the next `trace_skipped`.
final class TraceSink: Sendable {
    /// The trace's id (`t3`).
    let id: String
    let target: TraceTarget
    /// Who reads it: a remote address, or a name for in-process readers.
    let reader: String
    /// How much of a message's data a line keeps.
    let payloads: TracePayloads
    /// This node's name in the lines.
    let node: String
    /// When the trace ends by itself (`trace-timeout`), monotonic nanoseconds.
    let deadline: UInt64

    /// Messages a reader may leave waiting before lines are skipped.
    static let capacity = 4096

    private struct State: Sendable {
        var buffer: TraceBuffer
        /// The reader waiting for the next message, if it waits.
        var waiting: CheckedContinuation<TraceMessage?, Never>?
        /// The beat that reports skipped lines and ends the trace at its deadline.
        var beat: RepeatedTask?

        /// The waiting reader and the message it gets, when both are there.
        mutating func handOver() -> (CheckedContinuation<TraceMessage?, Never>, TraceMessage?)? {
            guard let waiting else { return nil }
            if let message = buffer.next() {
                self.waiting = nil
                return (waiting, message)
            }
            guard buffer.ended else { return nil }
            self.waiting = nil
            return (waiting, nil)
        }
    }

    private let state: NIOLockedValueBox<State>

    init(id: String, target: TraceTarget, reader: String, payloads: TracePayloads, node: String, rate: Double, timeout: Duration) {
        let now = NIODeadline.now().uptimeNanoseconds
        self.id = id
        self.target = target
        self.reader = reader
        self.payloads = payloads
        self.node = node
        self.deadline = now + UInt64(max(0, TimeAmount(timeout).nanoseconds))
        self.state = NIOLockedValueBox(State(buffer: TraceBuffer(trace: id, rate: rate, capacity: Self.capacity, now: now)))
    }

    /// Offers a line: `make` runs only when the line is within the rate and finds room.
    func offer(_ make: () -> TraceLine) {
        let now = NIODeadline.now().uptimeNanoseconds
        update { state in
            guard state.buffer.admits(now: now) else { return }
            state.buffer.append(make())
        }
    }

    /// Counts lines another node's part of the trace skipped.
    func skip(_ count: Int) {
        update { $0.buffer.countSkipped(count) }
    }

    /// Up to `limit` messages that are ready now, without waiting (a batch after ``next()``).
    func take(upTo limit: Int) -> [TraceMessage] {
        state.withLockedValue { state in
            var taken: [TraceMessage] = []
            while taken.count < limit, let message = state.buffer.next() { taken.append(message) }
            return taken
        }
    }

    /// The trace is in place: `trace_started` goes out first.
    func start() {
        update { $0.buffer.start(target) }
    }

    /// Queues `trace_ended` with `reason` (after what is queued) and stops the beat.
    func end(reason: String) {
        update { state in
            state.buffer.end(reason: reason)
            state.beat?.cancel()
            state.beat = nil
        }
    }

    /// Reports skipped lines that no later line carried; true once the deadline has passed.
    func beat(now: UInt64) -> Bool {
        update { $0.buffer.reportSkipped() }
        return now >= deadline
    }

    /// Keeps the beat's task, to cancel it when the trace ends.
    func keep(beat: RepeatedTask) {
        state.withLockedValue { $0.beat = beat }
    }

    /// The next message for the reader, waiting for one; nil after `trace_ended`.
    func next() async -> TraceMessage? {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state in
                state.waiting = continuation
                return state.handOver()
            }
            if let (waiting, message) = ready { waiting.resume(returning: message) }
        }
    }

    /// The reader stopped reading (cancelled): a waiting `next()` returns nil.
    func readerCancelled() {
        let waiting = state.withLockedValue { state in
            defer { state.waiting = nil }
            return state.waiting
        }
        waiting?.resume(returning: nil)
    }

    /// `data` cut as `trace-payloads` says.
    func cut(_ data: ByteBuffer) -> (data: String?, truncated: Bool) {
        payloads == .none ? (nil, false) : payloads.cut(data.readableBytesView)
    }

    private func update<T>(_ body: (inout State) -> T) -> T {
        let (result, ready) = state.withLockedValue { state in
            let result = body(&state)
            return (result, state.handOver())
        }
        if let (waiting, message) = ready { waiting.resume(returning: message) }
        return result
    }
}
