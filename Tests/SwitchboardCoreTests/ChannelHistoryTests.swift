import NIOCore
import Testing

@testable import SwitchboardCore

@Suite("Channel history: bounds, recovery, pages")
struct ChannelHistoryTests {
    private let allocator = ByteBufferAllocator()

    private func frame(_ seq: UInt64) -> ByteBuffer {
        ServerMessage.message(channel: "news", data: ByteBuffer(string: "\(seq)"), from: "c1", seq: seq, allocator: allocator)
    }

    private func history(size: Int, ttl: Duration = .seconds(60), publishing count: UInt64, from first: UInt64 = 1) -> ChannelHistory {
        var history = ChannelHistory(policy: HistoryPolicy(size: size, ttl: ttl), lastSeq: first - 1, now: 0, epoch: "E1")
        for seq in first..<(first + count) { _ = history.append(seq: seq, frame: frame(seq), now: 1) }
        return history
    }

    private func seqs(_ entries: [ChannelHistory.Entry]) -> [UInt64] { entries.map(\.seq) }

    @Test func keepsTheLastSizeMessagesAndCountsTheirBytes() {
        let kept = history(size: 3, publishing: 10)
        #expect(kept.count == 3)
        #expect(kept.firstSeq == 8)
        #expect(kept.lastSeq == 10)
        #expect(kept.bytes == (8...10).reduce(0) { $0 + frame(UInt64($1)).readableBytes + 48 })
    }

    @Test func recoversEveryMissedMessageOrNothing() {
        let kept = history(size: 5, publishing: 10)
        guard case .recovered(let missed) = kept.recover(from: StreamPosition(seq: 7, epoch: "E1")) else {
            Issue.record("seq 7 should be recoverable")
            return
        }
        #expect(seqs(missed) == [8, 9, 10])
        // The oldest kept is 6: a client at 5 missed 6…10, all kept; at 4 it missed 5, which is gone.
        if case .recovered(let all) = kept.recover(from: StreamPosition(seq: 5, epoch: "E1")) {
            #expect(seqs(all) == [6, 7, 8, 9, 10])
        } else {
            Issue.record("seq 5 should be recoverable")
        }
        #expect(kept.canRecover(from: StreamPosition(seq: 4, epoch: "E1")) == false)
        // Another epoch, or a position from the future, is never recovered.
        #expect(kept.canRecover(from: StreamPosition(seq: 9, epoch: "E2")) == false)
        #expect(kept.canRecover(from: StreamPosition(seq: 11, epoch: "E1")) == false)
        // Up to date: recovered with nothing to replay.
        if case .recovered(let none) = kept.recover(from: StreamPosition(seq: 10, epoch: "E1")) {
            #expect(none.isEmpty)
        } else {
            Issue.record("an up-to-date client is recovered")
        }
    }

    @Test func anEmptyHistoryRecoversOnlyAnUpToDateClient() {
        var kept = ChannelHistory(policy: HistoryPolicy(size: 10, ttl: .seconds(60)), lastSeq: 41, now: 0, epoch: "E1")
        #expect(kept.position == StreamPosition(seq: 41, epoch: "E1"))
        #expect(kept.canRecover(from: StreamPosition(seq: 41, epoch: "E1")))
        #expect(kept.canRecover(from: StreamPosition(seq: 40, epoch: "E1")) == false)
        _ = kept.append(seq: 42, frame: frame(42), now: 1)
        #expect(kept.canRecover(from: StreamPosition(seq: 41, epoch: "E1")))
    }

    @Test func removingTheOldestForTheByteCapMakesOlderPositionsUnrecoverable() {
        var kept = history(size: 10, publishing: 5)
        let cost = kept.removeOldest()
        #expect(cost == frame(1).readableBytes + 48)
        #expect(kept.firstSeq == 2)
        #expect(kept.canRecover(from: StreamPosition(seq: 0, epoch: "E1")) == false)
        #expect(kept.canRecover(from: StreamPosition(seq: 1, epoch: "E1")))
        while kept.removeOldest() != nil {}
        #expect(kept.bytes == 0)
        #expect(kept.count == 0)
    }

    @Test func aGapStartsTheKeptRunOver() {
        var kept = history(size: 10, publishing: 3)
        _ = kept.append(seq: 7, frame: frame(7), now: 2)
        #expect(kept.count == 1)
        #expect(kept.canRecover(from: StreamPosition(seq: 3, epoch: "E1")) == false)
        #expect(kept.canRecover(from: StreamPosition(seq: 6, epoch: "E1")))
    }

    @Test func expiresTheTimeToLiveAfterTheLastPublish() {
        let kept = history(size: 10, ttl: .seconds(2), publishing: 1)
        #expect(kept.isExpired(now: 1 + 2_000_000_000) == false)
        #expect(kept.isExpired(now: 1 + 2_000_000_001))
    }

    @Test func pagesAreTheFirstAfterSinceOrTheLatest() {
        let kept = history(size: 10, publishing: 20)
        #expect(seqs(kept.page(after: nil, limit: 3)) == [18, 19, 20])
        #expect(seqs(kept.page(after: 12, limit: 3)) == [13, 14, 15])
        #expect(seqs(kept.page(after: 18, limit: 5)) == [19, 20])
        #expect(seqs(kept.page(after: 20, limit: 5)) == [])
        #expect(seqs(kept.page(after: nil, limit: 50)) == Array(11...20))
    }

    @Test func epochsAreShortAndRandom() {
        let epochs = Set((0..<50).map { _ in ChannelHistory.makeEpoch() })
        #expect(epochs.count == 50)
        #expect(epochs.allSatisfy { $0.utf8.count == 8 && $0.allSatisfy { $0.isLetter || $0.isNumber } })
        // A source's epochs never repeat, and two sources do not share theirs.
        let source = EpochSource()
        let drawn = (0..<100_000).map { _ in source.next() }
        #expect(Set(drawn).count == drawn.count)
        #expect(drawn.allSatisfy { $0.utf8.count == 8 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } })
        #expect(Set((0..<1000).map { _ in EpochSource().next() }).count == 1000)
    }

    @Test func historyFramesCarryTheKeptMessagesJSON() {
        let kept = history(size: 10, publishing: 2)
        let reply = ServerMessage.history(
            channel: "news", position: kept.position, messages: kept.page(after: nil, limit: 10), id: ByteBuffer(string: "7"),
            allocator: allocator)
        #expect(
            String(buffer: WireFrame.payload(of: reply))
                == #"{"type":"history","channel":"news","id":7,"seq":2,"epoch":"E1","messages":[{"type":"message","channel":"news","data":1,"from":"c1","seq":1},{"type":"message","channel":"news","data":2,"from":"c1","seq":2}]}"#
        )
        let subscribed = ServerMessage.subscribed(
            channel: "news", id: nil, position: StreamPosition(seq: 41, epoch: "x7Kp"), recovered: true, allocator: allocator)
        #expect(
            String(buffer: WireFrame.payload(of: subscribed)) == #"{"type":"subscribed","channel":"news","recovered":true,"seq":41,"epoch":"x7Kp"}"#)
    }
}

@Suite("History settings: patterns and policies")
struct HistorySettingsTests {
    @Test(arguments: [
        ("chat:*", "chat:room1", true), ("chat:*", "chat:", true), ("chat:*", "chats:1", false), ("*", "anything", true),
        ("*.log", "a.b.log", true), ("*.log", "a.logs", false), ("news", "news", true), ("news", "news2", false),
        ("a*b*c", "a-b-x-c", true), ("a*b*c", "a-c", false),
    ])
    func globPatterns(pattern: String, channel: String, matches: Bool) {
        #expect(HistorySettings.Rule(pattern: pattern).matches(channel) == matches)
    }

    @Test func firstMatchingRuleWinsAndLeftOutKeysAreGlobal() {
        var settings = HistorySettings()
        #expect(settings.isEnabled == false)
        #expect(settings.policy(for: "news") == nil)
        settings.global = HistoryPolicy(size: 10, ttl: .seconds(30))
        settings.rules = [
            HistorySettings.Rule(pattern: "chat:*", size: 100), HistorySettings.Rule(pattern: "chat:secret*", size: 5),
            HistorySettings.Rule(pattern: "tmp:*", size: 0),
        ]
        #expect(settings.policy(for: "chat:secret") == HistoryPolicy(size: 100, ttl: .seconds(30)))
        #expect(settings.policy(for: "tmp:x") == nil)
        #expect(settings.policy(for: "news") == HistoryPolicy(size: 10, ttl: .seconds(30)))
        settings.global.size = 0
        #expect(settings.isEnabled)
        #expect(settings.policy(for: "news") == nil)
    }
}
