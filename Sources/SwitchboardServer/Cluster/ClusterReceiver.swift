import Logging
import NIOCore
import SwitchboardCore

/// What arrives from Redis for the channels one shard owns, checked and handed to the shard's
/// fan-out: each message's number against the last one delivered, gaps filled from history (or
/// reported), a numbering that went backwards fenced (ClusterFence.swift) and announced with its
/// new position, presence changes delivered once each, and the waiters of resuming subscriptions
/// released in order.
///
/// A number is never delivered twice under one epoch: after a failover to a replica that lagged,
/// the numbers it hands out again are not delivered (counted as lost) until the channel's
/// subscribers were told its new epoch and where it stands.
///
/// Confined to the owning shard's loop; the ``RedisEngine`` reaches it through the shard's inbox.
final class ClusterReceiver: @unchecked Sendable {
    unowned let shard: HubShard
    private let link: ClusterLink
    /// What waits for a channel's numbering to reach a seq (resuming subscriptions).
    private var waiters: [String: [(seq: UInt64, notify: HubShard, then: () -> Void)]] = [:]
    /// Channels whose missed messages are being read from history, or whose numbering is being
    /// fenced, with what arrived meanwhile.
    private var filling: [String: [ClusterEnvelope.Delivery]] = [:]
    /// The epoch each channel's deliveries are numbered in, as far as this node knows.
    private var epochs: [String: String] = [:]
    /// Channels a fence moved to a new epoch at a `seq`: numbers up to it that still arrive were
    /// handed out in the old epoch, and are dropped (counted as lost) until a later one arrives.
    private var floors: [String: UInt64] = [:]
    /// How long a fence that failed waits before it is tried again.
    static let fenceRetry = TimeAmount.milliseconds(250)
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
        if isStale(delivery, on: channel) { return }
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
    /// messages were missed, reads them from history (true: `then` waits for that) or tells the
    /// subscribers what was lost and where the channel now stands; when the numbering went
    /// backwards, fences it first (true).
    private func catchUp(_ channel: String, last: UInt64?, reaching reached: UInt64, then: ClusterEnvelope.Delivery?, receivedAt: UInt64) -> Bool {
        switch ChannelSequence(last: last, next: reached + 1) {
        case .inOrder, .fenced:  // (a fence's verdict only, never a number's)
            return false
        case .missed(let count):
            shard.traffic.gaps += 1
            if fill(channel, after: last!, through: reached, restarted: false, queued: then.map { [$0] } ?? [], receivedAt: receivedAt) {
                return true
            }
            announceLoss(.missed(count), channel: channel, epoch: nil, seq: reached, receivedAt: receivedAt)
            return false
        case .restarted:
            shard.traffic.gaps += 1
            fence(channel, after: last!, reaching: reached, queued: then.map { [$0] } ?? [], receivedAt: receivedAt)
            return true
        }
    }

    /// Reads the messages after `last` through `target` from the channel's history, when it
    /// keeps one, and delivers them in order; `queued` (and whatever arrives meanwhile) is
    /// handled afterwards. A numbering that began again (`restarted`) is announced first, with
    /// the new epoch. False when the channel keeps no history.
    private func fill(
        _ channel: String, after last: UInt64, through target: UInt64, restarted: Bool, queued: [ClusterEnvelope.Delivery],
        receivedAt: UInt64
    ) -> Bool {
        guard link.history.isEnabled, let policy = link.history.policy(for: channel) else { return false }
        filling[channel] = queued
        let read: ClusterLink.HistoryRead = target > last ? .range(after: last, count: Int(min(target - last, UInt64(Int.max)))) : .position
        link.readHistory(channel, policy: policy, read)
            .hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
                guard let queued = self.filling.removeValue(forKey: channel) else { return }  // let go meanwhile
                let answer = try? result.get()
                let epoch = answer?.position.epoch
                if let epoch { self.epochs[channel] = epoch }
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

    // MARK: - Fencing

    /// Whether `delivery` carries a number a fence moved `channel` past (dropped: counted as
    /// lost when a message); the first later number ends that.
    private func isStale(_ delivery: ClusterEnvelope.Delivery, on channel: String) -> Bool {
        guard let floor = floors[channel] else { return false }
        switch delivery {
        case .message(let seq, _) where seq <= floor:
            shard.traffic.messagesLost += 1
            return true
        case .marker(let seq) where seq <= floor:
            return true
        case .message, .marker:
            floors[channel] = nil
            return false
        case .presence:
            return false
        }
    }

    /// The numbering went backwards from `last` to `reached`: nothing more of the channel is
    /// delivered until the fence answered; then either the channel was fenced (announced in its
    /// new epoch, the old numbers dropped) or its numbering had already begun again in another
    /// epoch (announced, and filled from history, as when Redis lost its data).
    private func fence(_ channel: String, after last: UInt64, reaching reached: UInt64, queued: [ClusterEnvelope.Delivery], receivedAt: UInt64) {
        filling[channel] = queued
        link.fence(channel, after: last, known: epochs[channel], backwards: true)
            .hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
                guard let queued = self.filling[channel] else { return }  // let go meanwhile
                guard case .success(let answer) = result else {
                    // Nothing of the channel is delivered before it is fenced: tried again.
                    self.shard.eventLoop.assumeIsolated().scheduleTask(in: Self.fenceRetry) {
                        guard let queued = self.filling[channel] else { return }
                        self.fence(channel, after: last, reaching: reached, queued: queued, receivedAt: receivedAt)
                    }
                    return
                }
                self.filling.removeValue(forKey: channel)
                self.epochs[channel] = answer.epoch
                if answer.fenced { return self.moved(channel, epoch: answer.epoch, seq: answer.seq, then: queued, receivedAt: receivedAt) }
                if self.fill(channel, after: 0, through: reached, restarted: true, queued: queued, receivedAt: receivedAt) { return }
                // Without history, what the new numbering published before this node heard it is gone.
                self.announceLoss(.restarted, channel: channel, epoch: answer.epoch, seq: reached, receivedAt: receivedAt)
                self.shard.owned.setPosition(reached, of: channel)
                self.releaseWaiters(of: channel, all: true)
                for delivery in queued { self.receive(delivery, on: channel, receivedAt: receivedAt) }
            }
    }

    /// `channel` continues in a new epoch after `seq`: the subscribers are told, and numbers up
    /// to it are dropped from now on.
    private func moved(_ channel: String, epoch: String, seq: UInt64, then queued: [ClusterEnvelope.Delivery], receivedAt: UInt64) {
        announceLoss(.fenced, channel: channel, epoch: epoch, seq: seq, receivedAt: receivedAt)
        shard.owned.setPosition(seq, of: channel)
        floors[channel] = seq
        releaseWaiters(of: channel, all: true)
        for delivery in queued { receive(delivery, on: channel, receivedAt: receivedAt) }
    }

    /// The epoch `channel` was numbered in when the node first held it (kept unless the node
    /// learned another since).
    func learn(_ epoch: String, of channel: String) {
        if epochs[channel] == nil { epochs[channel] = epoch }
    }

    /// After a Redis master change: fences every channel this shard delivered that is `affected`
    /// (its keys have a new master), with the last
    /// `seq` it delivered (holding what arrives meanwhile); a channel another node fenced first
    /// is announced in its new epoch, after what this node delivered or where its numbering
    /// stands, whichever is lower (the numbers above it are the new epoch's). Succeeds once
    /// every fence answered.
    func fenceDelivered(where affected: (String) -> Bool) -> EventLoopFuture<Void> {
        let fences = shard.owned.published.keys.filter { filling[$0] == nil && affected($0) }.map { channel in
            let last = shard.owned.position(of: channel) ?? 0
            let known = epochs[channel]
            filling[channel] = []
            return link.fence(channel, after: last, known: known, backwards: false)
                .hop(to: shard.eventLoop).assumeIsolated().map { answer in
                    guard let queued = self.filling.removeValue(forKey: channel) else { return }  // let go meanwhile
                    self.epochs[channel] = answer.epoch
                    let now = NIODeadline.now().uptimeNanoseconds
                    if answer.fenced || (known != nil && known != answer.epoch) {
                        let seq = answer.fenced ? answer.seq : min(answer.seq, last)
                        return self.moved(channel, epoch: answer.epoch, seq: seq, then: queued, receivedAt: now)
                    }
                    for delivery in queued { self.receive(delivery, on: channel, receivedAt: now) }
                }.recover { _ in
                    // Not fenced now: what arrived meanwhile is checked as usual (a number seen
                    // again is fenced then).
                    guard let queued = self.filling.removeValue(forKey: channel) else { return }
                    for delivery in queued { self.receive(delivery, on: channel, receivedAt: NIODeadline.now().uptimeNanoseconds) }
                }.nonisolated()
        }
        return EventLoopFuture.andAllComplete(fences, on: shard.eventLoop)
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
        epochs.removeValue(forKey: channel)
        floors.removeValue(forKey: channel)
        members.removeValue(forKey: channel)
        releaseWaiters(of: channel, all: true)
    }
}
