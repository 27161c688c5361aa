import NIOCore
import Testing

@testable import SwitchboardServer

/// The shard's waits, as values: soonest first, one wait per session, stale entries skipped.
@Suite struct ExpiryTimersTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func waitsEndSoonestFirstAndOnlyTheLatestOfASessionCounts() {
        var timers = ExpiryTimers()
        timers.set(1, .expiry, at: start + .seconds(30))
        timers.set(2, .grace, at: start + .seconds(10))
        timers.set(1, .grace, at: start + .seconds(20))  // replaces session 1's expiry
        timers.set(3, .step, at: start + .seconds(40))
        timers.remove(3)
        #expect(timers.count == 2)
        #expect(timers.soonest() == start + .seconds(10))
        #expect(timers.takeDue(now: start + .seconds(5)).isEmpty)
        let due = timers.takeDue(now: start + .seconds(35))
        #expect(due.map(\.number) == [2, 1] && due.map(\.wait) == [.grace, .grace])
        #expect(timers.count == 0 && timers.soonest() == nil)
        #expect(timers.takeDue(now: start + .seconds(100)).isEmpty)  // session 3 left: nothing
    }

    @Test func staleEntriesDoNotPileUp() {
        var timers = ExpiryTimers()
        // Ten thousand sessions come and go, each refreshing once: only the live waits remain.
        for number in 0..<10_000 as Range<UInt64> {
            timers.set(number, .expiry, at: start + .seconds(3600))
            timers.set(number, .expiry, at: start + .seconds(7200))
            if number % 2 == 0 { timers.remove(number) }
        }
        #expect(timers.count == 5_000)
        #expect(timers.entries <= 2 * 5_000 + 1024, "\(timers.entries) entries for 5 000 waits")
        #expect(timers.soonest() == start + .seconds(7200))
        #expect(timers.takeDue(now: start + .seconds(7200)).count == 5_000)
    }
}
