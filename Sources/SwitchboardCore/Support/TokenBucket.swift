/// A token bucket: `rate` tokens per second, holding at most `burst`.
///
/// A rate of zero disables the limit. Time comes in as nanoseconds from any monotonic clock, so
/// the bucket is a plain value that tests drive without sleeping.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var lastRefill: UInt64

    public init(rate: Double, burst: Double, now: UInt64) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.tokens = max(burst, 1)
        self.lastRefill = now
    }

    /// Takes one token if there is one.
    public mutating func take(now: UInt64) -> Bool {
        guard rate > 0 else { return true }
        if now > lastRefill {
            tokens = min(burst, tokens + Double(now - lastRefill) * rate / 1e9)
            lastRefill = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whether the bucket will have refilled to its burst by `now` (nothing to remember).
    public func isFull(now: UInt64) -> Bool {
        rate <= 0 || tokens + Double(now > lastRefill ? now - lastRefill : 0) * rate / 1e9 >= burst
    }
}
