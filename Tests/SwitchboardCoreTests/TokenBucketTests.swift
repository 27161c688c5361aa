import Testing

@testable import SwitchboardCore

/// The bucket takes time as nanoseconds from any monotonic clock, so these tests drive it with
/// made-up instants: no sleeping, no wall clock.
@Suite("TokenBucket")
struct TokenBucketTests {
    static let second: UInt64 = 1_000_000_000
    static let millisecond: UInt64 = 1_000_000

    /// Takes tokens at `now` until refused; returns how many were granted (at most `limit`).
    static func drain(_ bucket: Driven, at now: UInt64, limit: Int = 10_000) -> Int {
        var granted = 0
        while granted < limit, bucket.take(now: now) { granted += 1 }
        return granted
    }

    @Test("a full bucket grants its burst, then refuses")
    func burstThenRefusal() {
        let bucket = Driven(TokenBucket(rate: 1, burst: 3, now: 0))
        #expect(bucket.take(now: 0))
        #expect(bucket.take(now: 0))
        #expect(bucket.take(now: 0))
        #expect(!bucket.take(now: 0))
        #expect(!bucket.take(now: 0))
    }

    @Test("the burst size is the number of back-to-back takes", arguments: [1, 2, 5, 20, 1000])
    func burstSizes(burst: Int) {
        let bucket = Driven(TokenBucket(rate: 10, burst: Double(burst), now: 5 * Self.second))
        #expect(Self.drain(bucket, at: 5 * Self.second) == burst)
    }

    @Test("tokens come back at the configured rate")
    func refill() {
        let bucket = Driven(TokenBucket(rate: 1, burst: 2, now: 0))
        #expect(Self.drain(bucket, at: 0) == 2)
        #expect(!bucket.take(now: Self.second / 2))  // half a token
        #expect(bucket.take(now: Self.second))  // the second half arrives
        #expect(!bucket.take(now: Self.second))
        #expect(Self.drain(bucket, at: 3 * Self.second) == 2)  // two seconds refill two tokens
    }

    @Test("a refill never exceeds the burst, however long the bucket idles")
    func refillIsCapped() {
        let bucket = Driven(TokenBucket(rate: 100, burst: 5, now: 0))
        #expect(Self.drain(bucket, at: 0) == 5)
        #expect(Self.drain(bucket, at: 3600 * Self.second) == 5)
        // A fresh bucket that idles does not build up credit either.
        let idle = Driven(TokenBucket(rate: 100, burst: 5, now: 0))
        #expect(Self.drain(idle, at: 86_400 * Self.second) == 5)
    }

    @Test("refill is exact at token boundaries")
    func refillBoundary() {
        // Three tokens a second: one token takes 333,333,333.3 ns.
        let bucket = Driven(TokenBucket(rate: 3, burst: 1, now: 0))
        #expect(bucket.take(now: 0))
        #expect(!bucket.take(now: 333_333_333))
        #expect(bucket.take(now: 333_333_334))
        #expect(!bucket.take(now: 333_333_334))
    }

    @Test("fast rates refill in milliseconds")
    func fastRate() {
        let bucket = Driven(TokenBucket(rate: 1000, burst: 1, now: 0))
        #expect(bucket.take(now: 0))
        #expect(bucket.take(now: Self.millisecond))
        #expect(!bucket.take(now: Self.millisecond))
        #expect(bucket.take(now: 2 * Self.millisecond))

        let early = Driven(TokenBucket(rate: 1000, burst: 1, now: 0))
        #expect(early.take(now: 0))
        #expect(!early.take(now: Self.millisecond - 1))
    }

    @Test("a steady stream of attempts is held to the rate")
    func sustainedRate() {
        // 4 tokens a second, attempts every 125 ms for 10 s: the burst, then one grant every 250 ms.
        let bucket = Driven(TokenBucket(rate: 4, burst: 1, now: 0))
        var granted = 0
        for step in UInt64(0)...80 where bucket.take(now: step * 125 * Self.millisecond) {
            granted += 1
        }
        #expect(granted == 1 + 40)
    }

    @Test("partial refills accumulate across refused attempts")
    func partialRefillsAccumulate() {
        let bucket = Driven(TokenBucket(rate: 4, burst: 1, now: 0))
        #expect(bucket.take(now: 0))
        // Three refused attempts 62.5 ms apart each add a quarter of a token...
        for step in UInt64(1)...3 {
            #expect(!bucket.take(now: step * 62_500_000))
        }
        // ...and the fourth completes the token.
        #expect(bucket.take(now: 4 * 62_500_000))
        #expect(!bucket.take(now: 4 * 62_500_000))
    }

    @Test("a rate of zero means unlimited")
    func zeroRateIsUnlimited() {
        let bucket = Driven(TokenBucket(rate: 0, burst: 1, now: 0))
        #expect(Self.drain(bucket, at: 0, limit: 100_000) == 100_000)
        #expect(bucket.take(now: 0))
        #expect(bucket.take(now: UInt64.max))
    }

    @Test("a negative rate is treated like zero: unlimited")
    func negativeRateIsUnlimited() {
        let bucket = Driven(TokenBucket(rate: -5, burst: 1, now: 0))
        #expect(Self.drain(bucket, at: 0, limit: 1000) == 1000)
    }

    @Test("a burst below one is raised to one")
    func burstAtLeastOne() {
        for burst in [0, 0.5, -3] {
            let bucket = Driven(TokenBucket(rate: 1, burst: burst, now: 0))
            #expect(bucket.burst == 1)
            #expect(bucket.take(now: 0))
            #expect(!bucket.take(now: 0))
            #expect(bucket.take(now: Self.second))
        }
    }

    @Test("a fractional burst grants whole tokens and keeps the fraction")
    func fractionalBurst() {
        let bucket = Driven(TokenBucket(rate: 1, burst: 2.5, now: 0))
        #expect(bucket.burst == 2.5)
        #expect(Self.drain(bucket, at: 0) == 2)
        // 0.5 left over plus half a second at 1 token/s makes one token.
        #expect(bucket.take(now: Self.second / 2))
        #expect(!bucket.take(now: Self.second / 2))
    }

    @Test("rate and burst are exposed as configured")
    func properties() {
        let bucket = TokenBucket(rate: 12.5, burst: 30, now: 99)
        #expect(bucket.rate == 12.5)
        #expect(bucket.burst == 30)
    }

    @Test("time that goes backwards neither refills nor breaks the bucket")
    func clockGoingBackwards() {
        let bucket = Driven(TokenBucket(rate: 1, burst: 1, now: 10 * Self.second))
        #expect(bucket.take(now: 10 * Self.second))
        #expect(!bucket.take(now: 0))
        #expect(!bucket.take(now: 5 * Self.second))
        // Refill is still measured from the last real instant, 10 s.
        #expect(!bucket.take(now: 10 * Self.second + Self.second / 2))
        #expect(bucket.take(now: 11 * Self.second))
    }

    @Test("instants near the top of UInt64 work")
    func largeInstants() {
        let start = UInt64.max - 10 * Self.second
        let bucket = Driven(TokenBucket(rate: 1, burst: 1, now: start))
        #expect(bucket.take(now: start))
        #expect(!bucket.take(now: start + Self.second / 2))
        #expect(bucket.take(now: start + Self.second))
    }

    @Test("buckets are independent values")
    func valueSemantics() {
        var original = TokenBucket(rate: 1, burst: 1, now: 0)
        var copy = original
        let first = original.take(now: 0)
        let fromCopy = copy.take(now: 0)
        let second = original.take(now: 0)
        #expect(first)
        #expect(fromCopy, "the copy kept its own token")
        #expect(!second)
    }
}

/// Holds a bucket so `#expect` can call the mutating `take(now:)` through a reference.
final class Driven {
    var bucket: TokenBucket
    init(_ bucket: TokenBucket) { self.bucket = bucket }
    var rate: Double { bucket.rate }
    var burst: Double { bucket.burst }
    func take(now: UInt64) -> Bool { bucket.take(now: now) }
}
