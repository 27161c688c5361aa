import DequeModule
import Logging
import NIOCore
import SwitchboardCore

/// The channels one shard owns (by hash of their name, see ``Hub/owner(of:)``): where each one's
/// numbering stands and, with the in-process engine, the messages it keeps (its history), within
/// the shard's share of the hub's byte cap.
///
/// Confined to the owning shard's loop.
final class OwnedChannels {
    private unowned let shard: HubShard
    private var configuration: HubConfiguration { shard.configuration }
    /// The last `seq` each channel was numbered (or, clustered, delivered) with.
    private var positions: [String: UInt64] = [:]
    /// The kept messages of channels with a history policy.
    private var histories: [String: ChannelHistory] = [:]
    /// Every kept message of the shard, oldest first: what the byte cap evicts first.
    private var historyOrder = Deque<(channel: String, seq: UInt64)>()
    /// Bytes all of the shard's histories hold; at most its share of the hub's cap.
    private(set) var historyBytes = 0
    /// Messages the byte cap evicted since the last log line about it.
    private var unloggedEvictions = 0
    private var lastEvictionLog: UInt64 = 0
    private var sweepTask: RepeatedTask?
    /// The idempotency keys of recent publishes to the channels this shard owns (in process;
    /// clustered, Redis keeps them).
    var idempotencyKeys: IdempotencyKeys

    init(shard: HubShard) {
        self.shard = shard
        idempotencyKeys = IdempotencyKeys(ttl: UInt64(shard.configuration.idempotencyTTL.components.seconds) * 1_000_000_000)
    }

    // MARK: - Numbering

    /// The last `seq` of `channel` this shard numbered or delivered; nil when none since the
    /// channel was last forgotten.
    func position(of channel: String) -> UInt64? {
        positions[channel]
    }

    /// Numbers the next message of `channel`.
    func number(_ channel: String) -> UInt64 {
        let seq = (positions[channel] ?? 0) + 1
        positions[channel] = seq
        return seq
    }

    /// Records that `channel`'s numbering stands at `seq` (the engine numbered it elsewhere).
    func setPosition(_ seq: UInt64, of channel: String) {
        positions[channel] = seq
    }

    /// Forgets `channel`'s numbering (the node no longer receives it).
    func forget(_ channel: String) {
        positions.removeValue(forKey: channel)
    }

    /// Publish counts of the channels this shard owns.
    var published: [String: Int] { positions.mapValues { Int($0) } }

    // MARK: - History

    /// Keeps a numbered message of `channel` when its policy says so, within the shard's share
    /// of the hub's byte cap (the shard's oldest messages go first, counted and logged).
    func keep(_ frame: ByteBuffer, seq: UInt64, channel: String) {
        guard configuration.history.isEnabled else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        guard var history = currentHistory(of: channel, now: now, lastSeq: seq - 1) else { return }
        histories[channel] = nil
        let before = history.bytes
        _ = history.append(seq: seq, frame: frame, now: now)
        historyBytes += history.bytes - before
        histories[channel] = history
        historyOrder.append((channel, seq))
        let budget = configuration.history.maxBytes / max(1, shard.hub.shards.count)
        while historyBytes > budget, let oldest = historyOrder.popFirst() {
            // Entries the size bound or expiry already dropped are skipped.
            guard histories[oldest.channel]?.firstSeq == oldest.seq, let cost = histories[oldest.channel]?.removeOldest() else { continue }
            historyBytes -= cost
            shard.traffic.historyEvictions += 1
            unloggedEvictions += 1
        }
        if unloggedEvictions > 0 && now - lastEvictionLog > 10_000_000_000 {
            shard.logger.warning(
                "history byte cap reached: oldest messages evicted",
                metadata: ["evicted": "\(unloggedEvictions)", "cap": "\(configuration.history.maxBytes)", "shard": "\(shard.index)"])
            unloggedEvictions = 0
            lastEvictionLog = now
        }
    }

    /// The channel's live history (a new one, with a new epoch, when it had none or it expired);
    /// nil when the channel keeps no history.
    private func currentHistory(of channel: String, now: UInt64, lastSeq: UInt64? = nil) -> ChannelHistory? {
        if let history = histories[channel], !history.isExpired(now: now) { return history }
        if let expired = histories.removeValue(forKey: channel) { historyBytes -= expired.bytes }
        guard let policy = configuration.history.policy(for: channel) else { return nil }
        let history = ChannelHistory(policy: policy, lastSeq: lastSeq ?? positions[channel] ?? 0, now: now)
        histories[channel] = history
        if sweepTask == nil { startSweep() }
        return history
    }

    /// What a subscriber of `channel` resuming from `since` gets, and the channel's position.
    /// Nil when the channel keeps no history.
    func recover(_ channel: String, since: StreamPosition?) -> Hub.RecoveryAnswer? {
        shard.eventLoop.assertInEventLoop()
        guard let history = currentHistory(of: channel, now: NIODeadline.now().uptimeNanoseconds) else { return nil }
        return Hub.RecoveryAnswer(position: history.position, replay: since.map { history.recover(from: $0) })
    }

    /// A page of `channel`'s history: at most `limit` (and at most the history's size)
    /// messages after `since` (its epoch checked when given), or the latest ones.
    func historyPage(_ channel: String, since: UInt64?, epoch: String?, limit: Int) -> Result<Hub.HistoryPage, Hub.HistoryRefusal> {
        shard.eventLoop.assertInEventLoop()
        guard let history = currentHistory(of: channel, now: NIODeadline.now().uptimeNanoseconds) else { return .failure(.none) }
        if let since, !history.canRecover(from: StreamPosition(seq: since, epoch: epoch ?? history.epoch)) {
            return .failure(.unrecoverable(history.position))
        }
        return .success(Hub.HistoryPage(position: history.position, messages: history.page(after: since, limit: min(limit, history.policy.size))))
    }

    /// The kept messages' count and epoch of each channel this shard keeps history for.
    func historyFigures() -> [String: (count: Int, epoch: String)] {
        shard.eventLoop.assertInEventLoop()
        return histories.mapValues { ($0.count, $0.epoch) }
    }

    /// Once a second: drops expired histories (their epoch is gone with them), and rebuilds the
    /// eviction order when most of its entries name messages already dropped.
    private func startSweep() {
        sweepTask = shard.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            self?.sweep()
        }
    }

    private func sweep() {
        let now = NIODeadline.now().uptimeNanoseconds
        var kept = 0
        for (channel, history) in histories {
            if history.isExpired(now: now) {
                histories.removeValue(forKey: channel)
                historyBytes -= history.bytes
            } else {
                kept += history.count
            }
        }
        if historyOrder.count > 2 * kept + 1024 {
            historyOrder = Deque(historyOrder.filter { entry in (histories[entry.channel]?.firstSeq).map { $0 <= entry.seq } ?? false })
        }
    }

    /// Stops the sweep (shutdown).
    func stop() {
        sweepTask?.cancel()
        sweepTask = nil
    }
}
