import Logging
import NIOCore
import SwitchboardCore

/// What arrives from Redis for the channels one shard owns, checked and handed to the shard's
/// fan-out: each message's number against the last one delivered, gaps filled from history (or
/// reported), a numbering that began again announced with its new position, presence changes
/// delivered once each, and the waiters of resuming subscriptions released in order.
///
/// Confined to the owning shard's loop; the ``RedisEngine`` reaches it through the shard's inbox.
final class ClusterReceiver: @unchecked Sendable {
    private unowned let shard: HubShard
    private let link: ClusterLink
    /// What waits for a channel's numbering to reach a seq (resuming subscriptions).
    private var waiters: [String: [(seq: UInt64, notify: HubShard, then: () -> Void)]] = [:]
    /// Channels whose missed messages are being read from history, with what arrived meanwhile.
    private var filling: [String: [ClusterEnvelope.Delivery]] = [:]
    /// The users this node's subscribers of each presence channel have been told are present:
    /// a join or leave is delivered only when it changes this set, so a change that arrives both
    /// through pub/sub and through a resync after a reconnect is delivered once.
    private var members: [String: Set<String>] = [:]

    init(shard: HubShard, link: ClusterLink) {
        self.shard = shard
        self.link = link
    }

    // MARK: - Receiving

    /// A message, presence change or sync marker from Redis for `channel`: checks its number
    /// against the last one delivered, fills or reports what never arrived, then delivers it.
    func receive(_ delivery: ClusterEnvelope.Delivery, on channel: String, receivedAt: UInt64) {
        if filling[channel] != nil { return filling[channel]!.append(delivery) }
        let last = shard.owned.position(of: channel)
        switch delivery {
        case .message(let seq, let publication):
            if catchUp(channel, last: last, reaching: seq - 1, then: delivery, receivedAt: receivedAt) { return }
            shard.deliverNumbered(publication, seq: seq, receivedAt: receivedAt)
            releaseWaiters(of: channel)
        case .presence(let change):
            guard admits(change) else { return }
            shard.fanOut(change, seq: 0, receivedAt: receivedAt)
        case .marker(let seq):
            if catchUp(channel, last: last, reaching: seq, then: nil, receivedAt: receivedAt) { return }
            shard.owned.setPosition(seq, of: channel)
            releaseWaiters(of: channel)
        }
    }

    /// Before delivering what follows `reached` (the channel's numbering stands there): when
    /// messages were missed or the numbering began again, reads them from history (true: `then`
    /// waits for that) or tells the subscribers what was lost and where the channel now stands.
    private func catchUp(_ channel: String, last: UInt64?, reaching reached: UInt64, then: ClusterEnvelope.Delivery?, receivedAt: UInt64) -> Bool {
        switch ChannelSequence(last: last, next: reached + 1) {
        case .inOrder:
            return false
        case .missed(let count):
            shard.traffic.gaps += 1
            if fill(channel, after: last!, through: reached, restarted: false, then: then, receivedAt: receivedAt) { return true }
            announceLoss(.missed(count), channel: channel, epoch: nil, seq: reached, receivedAt: receivedAt)
            return false
        case .restarted:
            shard.traffic.gaps += 1
            if fill(channel, after: 0, through: reached, restarted: true, then: then, receivedAt: receivedAt) { return true }
            // Without history, what the new numbering published before this node heard it is gone.
            announceLoss(.restarted, channel: channel, epoch: link.nodes.clusterEpoch, seq: reached, receivedAt: receivedAt)
            releaseWaiters(of: channel, all: true)
            return false
        }
    }

    /// Reads the messages after `last` through `target` from the channel's history, when it
    /// keeps one, and delivers them in order; `pending` (and whatever arrives meanwhile) is
    /// handled afterwards. A numbering that began again (`restarted`) is announced first, with
    /// the new epoch. False when the channel keeps no history.
    private func fill(
        _ channel: String, after last: UInt64, through target: UInt64, restarted: Bool, then pending: ClusterEnvelope.Delivery?,
        receivedAt: UInt64
    ) -> Bool {
        guard link.history.isEnabled, let policy = link.history.policy(for: channel) else { return false }
        filling[channel] = pending.map { [$0] } ?? []
        let read: ClusterLink.HistoryRead = target > last ? .range(after: last, count: Int(min(target - last, UInt64(Int.max)))) : .position
        link.readHistory(channel, policy: policy, read)
            .hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
                guard let queued = self.filling.removeValue(forKey: channel) else { return }  // let go meanwhile
                let answer = try? result.get()
                let epoch = answer?.position.epoch
                if restarted {
                    self.announceLoss(.restarted, channel: channel, epoch: epoch, seq: last, receivedAt: receivedAt)
                    self.shard.owned.setPosition(last, of: channel)
                    self.releaseWaiters(of: channel, all: true)
                }
                var next = last + 1
                if let answer, answer.complete {
                    for message in answer.messages where message.seq == next && next <= target {
                        self.shard.deliverNumbered(message.publication, seq: message.seq, receivedAt: receivedAt)
                        next += 1
                    }
                }
                if next <= target {
                    // History no longer holds them: reported, as without history.
                    self.announceLoss(.missed(target - next + 1), channel: channel, epoch: epoch, seq: target, receivedAt: receivedAt)
                    self.shard.owned.setPosition(target, of: channel)
                } else if target > last {
                    self.shard.traffic.gapsFilled += Int(target - last)
                    self.shard.logger.info("gap filled from history", metadata: ["channel": "\(channel)", "messages": "\(target - last)"])
                }
                for delivery in queued { self.receive(delivery, on: channel, receivedAt: receivedAt) }
            }
        return true
    }

    /// Tells `channel`'s subscribers that messages were lost, and that its numbering now stands
    /// at `seq` (in `epoch`, when known): counted, logged and shown in the event pane.
    private func announceLoss(_ verdict: ChannelSequence, channel: String, epoch: String?, seq: UInt64, receivedAt: UInt64) {
        guard let notice = verdict.lossNotice else { return }
        if case .missed(let count) = verdict { shard.traffic.messagesLost += Int(count) } else { shard.traffic.numberingRestarts += 1 }
        shard.logger.warning("messages lost", metadata: ["channel": "\(channel)", "why": "\(notice)"])
        shard.report(.error, detail: "#\(channel): \(notice)")
        let publication = Publication(
            channel: channel, kind: .messagesLost(notice: notice, epoch: epoch, seq: seq), data: ByteBuffer(), from: "server")
        shard.fanOut(publication, seq: 0, receivedAt: receivedAt)
    }

    // MARK: - Presence

    /// Whether a presence change from Redis changes what this node's subscribers were told.
    private func admits(_ change: Publication) -> Bool {
        switch change.kind {
        case .joined(let member): members[change.channel]?.insert(member.userID).inserted ?? true
        case .left(let member): members[change.channel].map { _ in members[change.channel]!.remove(member.userID) != nil } ?? true
        case .message, .messagesLost: true
        }
    }

    /// The channel's members as Redis holds them now. The first time, this only starts keeping
    /// track; after a reconnect (`announce`) the differences from what the subscribers were told
    /// are delivered as joins and leaves, since pub/sub loses what it sent while the subscriber
    /// connection was down.
    func resync(_ channel: String, members current: [PresenceMember], announce: Bool, receivedAt: UInt64) {
        let users = Set(current.map(\.userID))
        guard announce, let told = members[channel] else {
            if members[channel] == nil { members[channel] = users }
            return
        }
        members[channel] = users
        for user in told.subtracting(users).sorted() {
            let member = PresenceMember(userID: user, info: nil)
            shard.fanOut(Publication(channel: channel, kind: .left(member), data: ByteBuffer(), from: "server"), seq: 0, receivedAt: receivedAt)
        }
        for member in current where !told.contains(member.userID) {
            shard.fanOut(Publication(channel: channel, kind: .joined(member), data: ByteBuffer(), from: "server"), seq: 0, receivedAt: receivedAt)
        }
    }

    // MARK: - Waiters and letting go

    /// Runs `then` on `notify`'s loop once the node has delivered `channel` through `seq`; a
    /// sync marker, in order with the channel's messages, brings an idle channel there too.
    func whenDelivered(_ channel: String, through seq: UInt64, notify: HubShard, then: @escaping () -> Void) {
        guard (shard.owned.position(of: channel) ?? 0) < seq else { return notify.send(.run(then)) }
        waiters[channel, default: []].append((seq, notify, then))
        link.publishMarker(channel) { [weak self] in
            self?.shard.eventLoop.execute { self?.releaseWaiters(of: channel, all: true) }
        }
    }

    /// Runs the waiters the channel's numbering has reached (or all of them: the numbering
    /// restarted, or the node let the channel go).
    private func releaseWaiters(of channel: String, all: Bool = false) {
        guard var waiting = waiters[channel] else { return }
        let reached = shard.owned.position(of: channel) ?? 0
        let due = waiting.filter { all || $0.seq <= reached }
        waiting.removeAll { all || $0.seq <= reached }
        waiters[channel] = waiting.isEmpty ? nil : waiting
        for waiter in due { waiter.notify.send(.run(waiter.then)) }
    }

    /// The node no longer subscribes to `channel`: its numbering and members are forgotten.
    func forget(_ channel: String) {
        shard.owned.forget(channel)
        filling.removeValue(forKey: channel)
        members.removeValue(forKey: channel)
        releaseWaiters(of: channel, all: true)
    }
}
