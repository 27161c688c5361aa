import Testing

@testable import SwitchboardCore

@Suite struct TraceBufferTests {
    private static let second: UInt64 = 1_000_000_000

    private func line(_ n: Int) -> TraceLine {
        TraceLine(time: Double(n), node: "a", kind: .publish, channel: "news", seq: UInt64(n))
    }

    private func drain(_ buffer: inout TraceBuffer) -> [TraceMessage] {
        var out: [TraceMessage] = []
        while let message = buffer.next() { out.append(message) }
        return out
    }

    @Test func startedComesFirstEvenAfterLinesQueuedBeforeIt() {
        var buffer = TraceBuffer(trace: "t1", rate: 0, capacity: 10, now: 0)
        let admitted = buffer.admits(now: 0)
        #expect(admitted)
        buffer.append(line(1))
        let early = buffer.next()
        #expect(early == nil)  // nothing until the trace is in place everywhere
        buffer.start(.channel("news"))
        #expect(drain(&buffer) == [.started(trace: "t1", target: .channel("news")), .line(trace: "t1", line(1))])
    }

    @Test func linesOverTheRateAreCountedAndReportedBeforeTheNextLine() {
        var buffer = TraceBuffer(trace: "t1", rate: 2, capacity: 100, now: 0)
        buffer.start(.client("c1"))
        var admitted = 0
        for n in 0..<10 where buffer.admits(now: 0) {
            buffer.append(line(n))
            admitted += 1
        }
        #expect(admitted == 2)  // a second's worth in a burst
        #expect(buffer.skipped == 8)
        // Half a second later one more token: the skipped count goes out ahead of the line.
        let later = buffer.admits(now: Self.second / 2)
        #expect(later)
        buffer.append(line(10))
        let messages = drain(&buffer)
        #expect(messages.suffix(2) == [.skipped(trace: "t1", count: 8), .line(trace: "t1", line(10))])
        #expect(buffer.skipped == 0)
    }

    @Test func aReaderThatFallsBehindGetsCountsNotUnboundedMemory() {
        var buffer = TraceBuffer(trace: "t1", rate: 0, capacity: 4, now: 0)
        buffer.start(.user("ann"))
        for n in 0..<100 where buffer.admits(now: 0) { buffer.append(line(n)) }
        #expect(buffer.count == 4)
        #expect(buffer.skipped == 97)
        // The reader catches up; the beat reports the count once there is room.
        _ = buffer.next()
        _ = buffer.next()
        buffer.reportSkipped()
        #expect(buffer.count == 3)
        let messages = drain(&buffer)
        #expect(messages.last == .skipped(trace: "t1", count: 97))
    }

    @Test func largePayloadsAreBoundedByBytesToo() {
        var buffer = TraceBuffer(trace: "t1", rate: 0, capacity: 100, byteCapacity: 1000, now: 0)
        buffer.start(.channel("news"))
        var big = line(1)
        big.data = String(repeating: "x", count: 400)
        for _ in 0..<5 where buffer.admits(now: 0) { buffer.append(big) }
        #expect(buffer.bytes == 800)
        #expect(buffer.skipped == 3)
        _ = buffer.next()  // started
        _ = buffer.next()  // one line read: room for another
        #expect(buffer.bytes == 400)
        let admitted = buffer.admits(now: 0)
        #expect(admitted)
        buffer.append(big)
        #expect(drain(&buffer) == [.line(trace: "t1", big), .skipped(trace: "t1", count: 3), .line(trace: "t1", big)])
        #expect(buffer.bytes == 0)
    }

    @Test func theEndIsAlwaysQueuedAfterWhatWasSkippedAndNothingFollowsIt() {
        var buffer = TraceBuffer(trace: "t1", rate: 0, capacity: 2, now: 0)
        buffer.start(.channel("news"))
        for n in 0..<5 where buffer.admits(now: 0) { buffer.append(line(n)) }
        buffer.end(reason: "timeout")
        let afterEnd = buffer.admits(now: 0)
        #expect(!afterEnd)
        buffer.end(reason: "reader gone")
        let messages = drain(&buffer)
        #expect(
            messages.suffix(2) == [.skipped(trace: "t1", count: 4), .ended(trace: "t1", reason: "timeout")])
    }
}
