import Synchronization

/// The measured side of a bounded mailbox: depth, peak, capacity and lifetime counts, readable
/// from any thread while the owning actor keeps running.
///
/// The owner keeps its own plain counters on the hot path and calls ``publish(_:)`` once per
/// batch (for a hub shard: once per drained batch), so instrumentation costs a few relaxed stores per
/// batch rather than a lock or an atomic read-modify-write per message.
public final class MailboxGauge: Sendable {
    /// Who owns the mailbox.
    public let kind: ActorKind
    /// A name unique among gauges of the same kind (a client id, `shard-0`).
    public let name: String
    /// How many messages fit before the mailbox's full policy applies.
    public let capacity: Int

    private let depth = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)
    private let enqueued = Atomic<Int>(0)
    private let dequeued = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let queuedBytes = Atomic<Int>(0)

    public init(kind: ActorKind, name: String, capacity: Int) {
        self.kind = kind
        self.name = name
        self.capacity = capacity
    }

    /// Stores the owner's current figures. Only the owner calls this.
    public func publish(_ counts: MailboxCounts) {
        depth.store(counts.depth, ordering: .relaxed)
        peak.store(counts.peak, ordering: .relaxed)
        enqueued.store(counts.enqueued, ordering: .relaxed)
        dequeued.store(counts.dequeued, ordering: .relaxed)
        dropped.store(counts.dropped, ordering: .relaxed)
        queuedBytes.store(counts.queuedBytes, ordering: .relaxed)
    }

    /// The figures as last published.
    public func read() -> MailboxCounts {
        MailboxCounts(
            depth: depth.load(ordering: .relaxed),
            peak: peak.load(ordering: .relaxed),
            enqueued: enqueued.load(ordering: .relaxed),
            dequeued: dequeued.load(ordering: .relaxed),
            dropped: dropped.load(ordering: .relaxed),
            queuedBytes: queuedBytes.load(ordering: .relaxed)
        )
    }
}

/// A mailbox's figures at one moment.
public struct MailboxCounts: Equatable, Sendable, Codable {
    /// Messages waiting now.
    public var depth = 0
    /// The highest depth ever seen.
    public var peak = 0
    /// Messages ever accepted.
    public var enqueued = 0
    /// Messages ever taken out and processed (for a session: handed to the socket).
    public var dequeued = 0
    /// Messages refused or discarded by the full policy.
    public var dropped = 0
    /// Bytes waiting now (for mailboxes that bound bytes as well as messages).
    public var queuedBytes = 0

    public init(depth: Int = 0, peak: Int = 0, enqueued: Int = 0, dequeued: Int = 0, dropped: Int = 0, queuedBytes: Int = 0) {
        self.depth = depth
        self.peak = peak
        self.enqueued = enqueued
        self.dequeued = dequeued
        self.dropped = dropped
        self.queuedBytes = queuedBytes
    }
}
