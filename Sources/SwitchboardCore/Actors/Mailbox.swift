import Synchronization

/// A bounded, instrumented inbox for an actor fed from event loops: cheap to send to (one short
/// lock, no task, no await), drained in batches by its owner.
///
/// Messages are never dropped silently: at capacity a message is refused and counted in the
/// gauge's `dropped`, which the dashboard shows.
public final class Mailbox<Message: Sendable>: Sendable {
    public let gauge: MailboxGauge
    private let state: Mutex<State>
    private let wakeups: AsyncStream<Void>.Continuation
    /// Yields whenever messages arrive (coalesced).
    public let arrivals: AsyncStream<Void>

    private struct State {
        var events: [Message] = []
        var counts = MailboxCounts()
    }

    public init(capacity: Int, kind: ActorKind, name: String) {
        gauge = MailboxGauge(kind: kind, name: name, capacity: capacity)
        state = Mutex(State())
        (arrivals, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Sends a message from any thread. Returns false if the mailbox was full.
    @discardableResult
    public func send(_ event: Message) -> Bool {
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

    /// Takes every waiting message, oldest first.
    public func drain() -> [Message] {
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

/// The metrics collector's inbox for lifecycle events. Its capacity is far above what a burst of
/// connects and disconnects produces between two drains.
public typealias EventMailbox = Mailbox<HubEvent>

extension Mailbox where Message == HubEvent {
    public convenience init() {
        self.init(capacity: 65_536, kind: .metrics, name: "metrics")
    }
}
