import Testing

@testable import SwitchboardCore

/// The per-address connection limits and the admin-token lockout, driven with made-up instants:
/// no sockets, no sleeping.
@Suite("SourceLimits and AdminLockout")
struct SourceLimitsTests {
    static let second: UInt64 = 1_000_000_000

    @Test("open connections are counted per address and a close frees a place")
    func connectionsPerAddress() {
        var limits = SourceLimits(maxConnections: 2, connectRate: 0)
        #expect(limits.admit("10.0.0.1", now: 0) == nil)
        #expect(limits.admit("10.0.0.1", now: 0) == nil)
        #expect(limits.admit("10.0.0.1", now: 0) == .tooManyConnections)
        #expect(limits.admit("10.0.0.2", now: 0) == nil)
        limits.release("10.0.0.1")
        #expect(limits.openConnections(from: "10.0.0.1") == 1)
        #expect(limits.admit("10.0.0.1", now: 0) == nil)
    }

    @Test("the connect rate is a bucket of a second's worth per address, refilled over time")
    func connectRate() {
        var limits = SourceLimits(maxConnections: 0, connectRate: 2)
        #expect(limits.admit("a", now: 0) == nil)
        #expect(limits.admit("a", now: 0) == nil)
        #expect(limits.admit("a", now: 0) == .rateLimited)
        #expect(limits.admit("b", now: 0) == nil)
        #expect(limits.admit("a", now: Self.second / 2) == nil)
        #expect(limits.admit("a", now: Self.second / 2) == .rateLimited)
        // A rate under one per second still lets one connect through.
        var slow = SourceLimits(maxConnections: 0, connectRate: 0.01)
        #expect(slow.admit("a", now: 0) == nil)
        #expect(slow.admit("a", now: 50 * Self.second) == .rateLimited)
        #expect(slow.admit("a", now: 100 * Self.second) == nil)
    }

    @Test("only addresses with something to remember are kept")
    func pruning() {
        var limits = SourceLimits(maxConnections: 5, connectRate: 1)
        _ = limits.admit("open", now: 0)
        _ = limits.admit("closed", now: 0)
        limits.release("closed")
        limits.prune(now: Self.second / 2)
        #expect(limits.trackedSources == 2)  // "closed" is still refilling
        limits.prune(now: 2 * Self.second)
        #expect(limits.trackedSources == 1)
        #expect(limits.openConnections(from: "open") == 1)
        #expect(!SourceLimits(maxConnections: 0, connectRate: 0).isActive)
    }

    @Test("five failures within a minute lock an address out until the minute is over")
    func adminLockout() {
        var lockout = AdminLockout()
        for attempt in 0..<4 { lockout.failed("x", now: Double(attempt)) }
        #expect(lockout.retryAfter("x", now: 4) == nil)
        lockout.failed("x", now: 10)
        #expect(lockout.retryAfter("x", now: 10) == 50)
        #expect(lockout.retryAfter("x", now: 59.2) == 1)
        #expect(lockout.retryAfter("y", now: 10) == nil)
        #expect(lockout.retryAfter("x", now: 60) == nil)
        // A new window starts with the next failure.
        lockout.failed("x", now: 61)
        #expect(lockout.retryAfter("x", now: 61) == nil)
        lockout.prune(now: 200)
        #expect(lockout.trackedSources == 0)
    }
}
