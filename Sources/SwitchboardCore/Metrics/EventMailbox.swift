import Synchronization

/// The metrics collector's inbox for lifecycle events: bounded, instrumented, and cheap to send
/// to from an event loop (one short lock, no task, no await).
///
/// Lifecycle events are never dropped silently: at capacity an event is refused and counted in
/// the gauge's `dropped`, which the dashboard shows. The capacity is far above what a burst of
/// connects and disconnects produces between two drains.
public final class EventMailbox: Sendable {
    public let gauge: MailboxGauge
    private let state: Mutex<State>
    private let wakeups: AsyncStream<Void>.Continuation
    /// Yields whenever events arrive (coalesced).
    public let arrivals: AsyncStream<Void>

    private struct State {
        var events: [HubEvent] = []
        var counts = MailboxCounts()
    }

    public init(capacity: Int = 65_536, name: String = "metrics") {
        gauge = MailboxGauge(kind: "metrics", name: name, capacity: capacity)
        state = Mutex(State())
        (arrivals, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Sends an event from any thread. Returns false if the mailbox was full.
    @discardableResult
    public func send(_ event: HubEvent) -> Bool {
        let accepted = state.withLock { state in
            guard state.events.count < gauge.capacity else {
                state.counts.dropped += 1
                gauge.publish(state.counts)
                return false
            }
            state.events.append(event)
            state.counts.enqueued += 1
            state.counts.depth = state.events.count
            state.counts.peak = max(state.counts.peak, state.counts.depth)
            gauge.publish(state.counts)
            return true
        }
        if accepted { wakeups.yield() }
        return accepted
    }

    /// Takes every waiting event, oldest first.
    public func drain() -> [HubEvent] {
        state.withLock { state in
            let events = state.events
            state.events.removeAll(keepingCapacity: true)
            state.counts.dequeued += events.count
            state.counts.depth = 0
            gauge.publish(state.counts)
            return events
        }
    }

    /// Ends the arrivals stream (shutdown).
    public func finish() {
        wakeups.finish()
    }
}
