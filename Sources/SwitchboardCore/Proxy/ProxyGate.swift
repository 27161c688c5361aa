import DequeModule

/// Bounds the requests to the application's backend as a pure state machine: at most `limit`
/// in flight, at most `queueLimit` waiting in arrival order, and beyond that a refusal at once.
///
/// Waiters are tickets the caller hands in; the caller keeps whatever it needs to wake them.
public struct ProxyGate: Sendable {
    /// What a request arriving now does.
    public enum Entry: Sendable, Equatable {
        /// Go: a slot is yours (give it back with ``leave()``).
        case proceed
        /// Wait for ``leave()`` to hand you a slot (or ``withdraw(_:)`` when you give up).
        case wait
        /// Every slot and every place in the queue is taken.
        case overloaded
    }

    public let limit: Int
    public let queueLimit: Int
    public private(set) var inFlight = 0
    private var waiting = Deque<UInt64>()

    public init(limit: Int, queueLimit: Int) {
        self.limit = max(1, limit)
        self.queueLimit = max(0, queueLimit)
    }

    /// Requests waiting for a slot.
    public var queued: Int { waiting.count }

    /// A request with `ticket` asks for a slot.
    public mutating func enter(_ ticket: UInt64) -> Entry {
        if inFlight < limit {
            inFlight += 1
            return .proceed
        }
        guard waiting.count < queueLimit else { return .overloaded }
        waiting.append(ticket)
        return .wait
    }

    /// A request in flight is done; returns the waiting ticket that now holds its slot, if any.
    public mutating func leave() -> UInt64? {
        if let next = waiting.popFirst() { return next }
        inFlight -= 1
        return nil
    }

    /// A waiting request gives up (its deadline passed); false when it was already handed a slot.
    public mutating func withdraw(_ ticket: UInt64) -> Bool {
        guard let index = waiting.firstIndex(of: ticket) else { return false }
        waiting.remove(at: index)
        return true
    }
}
