import DequeModule

/// The idempotency keys of recent publishes, each with the `seq` its publish got, so that a
/// publish retried with the same key on the same channel is answered with the first one's
/// `seq` instead of being published again.
///
/// A key is remembered for `ttl` after its first publish and forgotten after that, or earlier
/// when more than `capacity` keys are remembered (the oldest go first), so memory stays
/// bounded whatever clients send. The same key on another channel is another key.
public struct IdempotencyKeys: Sendable {
    /// What a key may be, for the error a bad one gets.
    public static let rule = "\"idempotency_key\" must be a string of 1-\(maxLength) bytes"
    public static let maxLength = 255

    /// Whether `key` may be used as an idempotency key.
    public static func isValid(_ key: String) -> Bool {
        (1...maxLength).contains(key.utf8.count)
    }

    private struct Key: Hashable {
        let channel: String
        let key: String
    }

    /// How long a key is remembered, in nanoseconds.
    public let ttl: UInt64
    /// How many keys are remembered at most.
    public let capacity: Int
    private var seqs: [Key: UInt64] = [:]
    /// Keys in the order they were first published, with when each is forgotten.
    private var order = Deque<(key: Key, forgetAt: UInt64)>()

    public init(ttl: UInt64, capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// How many keys are remembered now.
    public var count: Int { seqs.count }

    /// The `seq` the publish with `key` on `channel` got, if it was within the time to live
    /// (monotonic nanoseconds `now`).
    public mutating func seq(of key: String, channel: String, now: UInt64) -> UInt64? {
        forgetExpired(now: now)
        return seqs[Key(channel: channel, key: key)]
    }

    /// Remembers that the publish with `key` on `channel` got `seq` (a key remembered already
    /// keeps its first `seq`).
    public mutating func remember(_ key: String, channel: String, seq: UInt64, now: UInt64) {
        let entry = Key(channel: channel, key: key)
        guard seqs[entry] == nil else { return }
        seqs[entry] = seq
        order.append((entry, now &+ ttl))
        while order.count > capacity, let oldest = order.popFirst() { seqs.removeValue(forKey: oldest.key) }
    }

    private mutating func forgetExpired(now: UInt64) {
        while let oldest = order.first, oldest.forgetAt <= now {
            order.removeFirst()
            seqs.removeValue(forKey: oldest.key)
        }
    }
}
