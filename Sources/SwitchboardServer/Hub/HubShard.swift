import Histogram
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import SwitchboardCore
import RedisClient
import DequeModule

/// The part of the hub that lives on one event loop: its sessions, their subscriptions, the
/// sequence numbers of the channels it owns, and the once-per-tick flush.
///
/// A channel is owned by one shard (by hash of its name). A publish goes to the owner, which
/// numbers it, encodes the frame once and hands the same bytes to its own subscribers and, in one
/// hop per shard, to every other shard with subscribers. Deliveries to a session are plain calls
/// on the session's loop: no task, stream or continuation per message.
///
/// Other threads reach a shard only through its ``inbox``, a bounded, instrumented mailbox
/// drained in one event-loop task per batch.
final class HubShard: @unchecked Sendable {
    /// Work another shard (or the hub) hands to this one.
    enum Message {
        /// A publish (or presence change) for a channel this shard owns.
        case publish(Publication, receivedAt: UInt64, ack: PendingAck?)
        /// A numbered publication (`seq`; 0 for presence changes) for this shard's subscribers,
        /// with its native frame already encoded; `receivedAt` is when the publish arrived
        /// (monotonic nanoseconds), for the publish → write latency.
        case fanOut(Publication, frame: ByteBuffer, seq: UInt64, receivedAt: UInt64)
        /// The ack of a publish handled elsewhere, for one session of this shard.
        case ack(PendingAck, ByteBuffer)
        /// Clustered: a message (or a sync marker) of a channel this shard owns, from Redis.
        case clustered(String, ClusterEnvelope.Delivery, receivedAt: UInt64)
        /// Clustered: the node no longer subscribes to the channel; its numbering is forgotten.
        case forget(String)
        /// Clustered, for a channel this shard owns: once the node has fanned out the channel
        /// through `seq`, `then` runs on `notify` (after the deliveries it was sent before).
        case whenDelivered(String, through: UInt64, notify: HubShard, then: () -> Void)
        /// Runs on this shard's loop, after every message sent to the shard before it.
        case run(() -> Void)
    }

    let index: Int
    let eventLoop: any EventLoop
    let configuration: HubConfiguration
    let logger: Logger
    unowned let hub: Hub
    let heartbeatSeconds: Int
    /// The bounded inbox's figures.
    let inboxGauge: MailboxGauge
    /// permessage-deflate streams shared by this loop's sessions.
    let compression = LoopCompression()

    // Loop-confined state.
    private var sessions: [String: Session] = [:]
    /// Outbound frames waiting in this shard's sessions' mailboxes, kept as they move.
    private(set) var queuedFrames = 0
    /// How many times the metrics collector sampled the clients' figures, and the sessions whose
    /// figures moved at the latest sample (what carries orders by moving columns forward).
    private(set) var figureSamples: UInt64 = 0
    private var movedAtLastSample: [(session: Session, moved: MovedFigures)] = []
    /// The sessions whose mailbox holds frames: few while clients keep up.
    private var backedUpSessions: [ObjectIdentifier: Session] = [:]
    /// The user each present session is present as, per presence channel it joined (only
    /// sessions in some presence channel have an entry).
    private var presence: [ObjectIdentifier: [String: String]] = [:]
    /// Native subscribers by channel.
    private var subscribers: [String: Subscribers] = [:]
    /// Pusher subscribers by channel, apart so native deliveries stay one plain loop.
    private var pusherSubscribers: [String: Subscribers] = [:]
    private var sequences: [String: UInt64] = [:]
    private var flushQueue: [Session] = []
    /// This tick's frames per channel with several local native subscribers; sealed at the flush.
    private var tickBatches: [String: TickBatch] = [:]
    /// How many of this shard's sessions hold back each channel's deliveries (until their
    /// subscription reply or replay is out): only these channels' deliveries ask each subscriber
    /// whether it holds; all others go straight to the mailboxes, one check per publication.
    private var holdingSessions: [String: Int] = [:]
    /// Arrival times of publishes fanned out this tick; recorded as latencies at the flush.
    private var publishArrivals: [UInt64] = []
    private var latencies = LatencyHistogram.make()
    private var heartbeatTask: RepeatedTask?
    /// The kept messages of channels this shard owns (those with a history policy).
    private var histories: [String: ChannelHistory] = [:]
    /// Every kept message of this shard, oldest first: what the byte cap evicts first.
    private var historyOrder = Deque<(channel: String, seq: UInt64)>()
    /// Bytes all of this shard's histories hold; at most its share of the hub's cap.
    private(set) var historyBytes = 0
    /// Messages the byte cap evicted since the last log line about it.
    private var unloggedEvictions = 0
    private var lastEvictionLog: UInt64 = 0
    private var historySweepTask: RepeatedTask?
    /// Clustered: what waits for a channel's numbering to reach a seq (resuming subscriptions).
    private var deliveryWaiters: [String: [(seq: UInt64, notify: HubShard, then: () -> Void)]] = [:]
    /// Clustered: channels whose gap is being filled from history, with what arrived meanwhile.
    private var filling: [String: [ClusterEnvelope.Delivery]] = [:]

    // Cross-thread state.
    private let inbox = NIOLockedValueBox(PendingInbox())
    private let inboxDepth = Atomic<Int>(0)
    /// Live session count, published from `sessions.count` whenever it changes.
    let sessionCount = Atomic<Int>(0)
    /// Whether any session here subscribes to anything: lets an owner skip a hop.
    let hasSubscribers = Atomic<Bool>(false)
    /// Message and byte totals; loop-owned, read on the loop by the hub's statistics.
    private(set) var traffic = Traffic()

    private struct PendingInbox {
        var messages: [Message] = []
        var drainScheduled = false
        var counts = MailboxCounts()
    }

    /// Where the ack of a publish handled on another shard goes back to.
    struct PendingAck {
        let session: Session
        let id: ByteBuffer
        let ticket: UInt64
    }

    /// A channel's local subscribers, with O(1) removal (order does not matter).
    private final class Subscribers {
        var sessions: [Session] = []
        var slots: [ObjectIdentifier: Int] = [:]
    }

    init(index: Int, eventLoop: any EventLoop, hub: Hub, configuration: HubConfiguration, logger: Logger) {
        self.index = index
        self.eventLoop = eventLoop
        self.hub = hub
        self.configuration = configuration
        self.logger = logger
        self.heartbeatSeconds = max(
            1,
            Int(
                (Double(configuration.heartbeatInterval.components.seconds) + Double(configuration.heartbeatInterval.components.attoseconds) / 1e18)
                    .rounded()))
        self.inboxGauge = MailboxGauge(kind: .hubShard, name: "shard-\(index)", capacity: configuration.shardInboxCapacity)
    }

    // MARK: - Sessions

    func register(_ session: Session) {
        eventLoop.preconditionInEventLoop()
        sessions[session.id] = session
        sessionCount.store(sessions.count, ordering: .relaxed)
        hub.clientOrders.membershipChanged()
        traffic.connects += 1
        logger.info("client connected", metadata: ["client": "\(session.id)", "remote": "\(session.remoteAddress)"])
        report(
            .connect, client: session.id, detail: session.userAgent.isEmpty ? session.remoteAddress : "\(session.remoteAddress) \(session.userAgent)")
        if heartbeatTask == nil { startHeartbeat() }
    }

    func unregister(_ session: Session) {
        unsubscribeAll(session)
        guard sessions.removeValue(forKey: session.id) != nil else { return }
        sessionCount.store(sessions.count, ordering: .relaxed)
        hub.clientOrders.membershipChanged()
        traffic.disconnects += 1
        let ending = session.closing.ending ?? CloseHandshake.Ending(code: 1006, reason: "", byServer: false)
        let by = ending.byServer ? "server" : "client"
        report(.disconnect, client: session.id, code: Int(ending.code), detail: "\(by) closed: \(ending.reason)")
        logger.info(
            "client disconnected",
            metadata: ["client": "\(session.id)", "code": "\(ending.code)", "reason": "\(ending.reason)", "by": "\(by)"]
        )
    }

    /// Every session of this shard, for shutdown and inspection. Loop only.
    var allSessions: Dictionary<String, Session>.Values { sessions.values }

    /// Sends a lifecycle event to the metrics collector (if there is one).
    func report(_ kind: HubEvent.Kind, client: String? = nil, code: Int? = nil, detail: String = "") {
        hub.events?.send(HubEvent(time: WallClock.now(), kind: kind, client: client, code: code, detail: detail))
    }

    // MARK: - Subscriptions and presence

    /// Subscribes `session` to `channel` (nothing to do when already subscribed); false when the
    /// client is at its channel limit. The session's channel list and this shard's subscriber
    /// index change together, here and in ``unsubscribe(_:from:)`` only.
    func subscribe(_ session: Session, to channel: String) -> Bool {
        eventLoop.assertInEventLoop()
        if session.channels.contains(channel) { return true }
        guard session.channels.count < configuration.maxChannelsPerClient else { return false }
        session.channels.append(channel)
        hub.clientOrders.membershipChanged()
        let wasEmpty = subscriberCount(of: channel) == 0
        if session.speaksPusher {
            Self.add(session, to: channel, in: &pusherSubscribers)
        } else {
            Self.add(session, to: channel, in: &subscribers)
        }
        hasSubscribers.store(true, ordering: .releasing)
        hub.cluster?.countSubscription(channel, by: 1)
        if wasEmpty {
            hub.shardOccupancyChanged(channel, occupied: true)
            hub.cluster?.hold(channel)
        }
        return true
    }

    /// Removes the subscription, and the session's presence in the channel if it had one; false
    /// when the session was not subscribed.
    @discardableResult
    func unsubscribe(_ session: Session, from channel: String) -> Bool {
        eventLoop.assertInEventLoop()
        guard let index = session.channels.firstIndex(of: channel) else { return false }
        session.channels.remove(at: index)
        hub.clientOrders.membershipChanged()
        let before = subscriberCount(of: channel)
        if session.speaksPusher {
            Self.remove(session, from: channel, in: &pusherSubscribers)
        } else {
            Self.remove(session, from: channel, in: &subscribers)
        }
        hasSubscribers.store(!subscribers.isEmpty || !pusherSubscribers.isEmpty, ordering: .releasing)
        hub.cluster?.countSubscription(channel, by: -1)
        if before > 0 && subscriberCount(of: channel) == 0 {
            hub.shardOccupancyChanged(channel, occupied: false)
            let owner = hub.owner(of: channel)
            hub.cluster?.release(channel) { owner.send(.forget(channel)) }
        }
        let key = ObjectIdentifier(session)
        if let user = presence[key]?.removeValue(forKey: channel) {
            if presence[key]?.isEmpty == true { presence.removeValue(forKey: key) }
            hub.leavePresence(userID: user, channel: channel, session: session)
        }
        return true
    }

    /// Leaves every channel (closing, or gone).
    func unsubscribeAll(_ session: Session) {
        for channel in session.channels { unsubscribe(session, from: channel) }
    }

    /// Makes subscribed `session` present in `channel` as `member`, once; refused when the
    /// channel already holds `limit` users, in which case the subscription is undone. Clustered,
    /// Redis's answer is pending: pass it to ``whenReceiving(_:admission:members:then:)``.
    func join(_ session: Session, as member: PresenceMember, in channel: String, limit: Int) -> Hub.PresenceAdmission {
        eventLoop.assertInEventLoop()
        let key = ObjectIdentifier(session)
        guard presence[key]?[channel] == nil else { return .admitted }
        let admission = hub.joinPresence(member, channel: channel, session: session, limit: limit)
        if case .refused = admission {
            unsubscribe(session, from: channel)
            return admission
        }
        presence[key, default: [:]][channel] = member.userID
        hub.clientOrders.membershipChanged()
        return admission
    }

    /// The user `session` is present as in `channel`, if it joined its presence.
    func presenceUser(of session: Session, in channel: String) -> String? {
        presence[ObjectIdentifier(session)]?[channel]
    }

    /// The users present in `channel` across the hub, in the order they joined.
    func presentMembers(of channel: String) -> [PresenceMember] {
        hub.presentMembers(of: channel)
    }

    /// Whether `channel` is a Pusher app's private or presence channel, which native clients may
    /// use only with a token that names it.
    func isProtectedPusherChannel(_ channel: String) -> Bool {
        hub.isProtectedPusherChannel(channel)
    }

    /// A Pusher client event was relayed: its app's webhooks hear of it.
    func clientEventRelayed(app: PusherApp, channel: String, event: String, data: [UInt8], socketID: String, userID: String?) {
        hub.webhooks?.clientEvent(app, channel: channel, event: event, data: data, socketID: socketID, userID: userID)
    }

    private static func add(_ session: Session, to channel: String, in registry: inout [String: Subscribers]) {
        let entry: Subscribers
        if let existing = registry[channel] {
            entry = existing
        } else {
            entry = Subscribers()
            registry[channel] = entry
        }
        let key = ObjectIdentifier(session)
        guard entry.slots[key] == nil else { return }
        entry.slots[key] = entry.sessions.count
        entry.sessions.append(session)
    }

    private static func remove(_ session: Session, from channel: String, in registry: inout [String: Subscribers]) {
        guard let entry = registry[channel], let slot = entry.slots.removeValue(forKey: ObjectIdentifier(session)) else { return }
        let last = entry.sessions.removeLast()
        if slot < entry.sessions.count {
            entry.sessions[slot] = last
            entry.slots[ObjectIdentifier(last)] = slot
        }
        if entry.sessions.isEmpty { registry.removeValue(forKey: channel) }
    }

    /// Subscriptions held on this shard right now (from the live registry). Loop only.
    var subscriptionCount: Int {
        subscribers.values.reduce(0) { $0 + $1.sessions.count } + pusherSubscribers.values.reduce(0) { $0 + $1.sessions.count }
    }
    /// Channels with at least one subscriber on this shard. Loop only.
    var channelNames: Set<String> { Set(subscribers.keys).union(pusherSubscribers.keys) }

    // MARK: - Publishing

    /// Routes a publish from a local session to the channel's owner (or, clustered, to Redis).
    /// Returns an error when the owner's inbox is full, the server is draining or Redis cannot be
    /// reached (the publish is refused, not lost).
    func publish(_ publication: Publication, from session: Session, ackID: ByteBuffer?) -> ProtocolError? {
        guard !hub.isDraining else { return ProtocolError(.overloaded, "the server is shutting down; nothing was published") }
        if let cluster = hub.cluster { return publish(publication, through: cluster, from: session, ackID: ackID) }
        let owner = hub.owner(of: publication.channel)
        if owner === self {
            fanOut(publication, receivedAt: session.heartbeat.lastInbound)
            if let ackID { session.reply(ServerMessage.ack(id: ackID, allocator: hub.allocator)) }
            return nil
        }
        guard owner.inboxBacklog < configuration.shardInboxCapacity else {
            owner.inbox.withLockedValue { $0.counts.dropped += 1 }
            return ProtocolError(.overloaded, "the hub is overloaded; retry later")
        }
        let ack = ackID.map { PendingAck(session: session, id: $0, ticket: session.reserveReply()) }
        owner.send(.publish(publication, receivedAt: session.heartbeat.lastInbound, ack: ack))
        return nil
    }

    /// Sends a publish to Redis, which numbers it and hands it to every node holding the
    /// channel (this one included, through ``receive(_:on:receivedAt:)``). The ack (native, in
    /// request order) waits for Redis's answer; a failure is the publisher's error.
    private func publish(_ publication: Publication, through cluster: ClusterLink, from session: Session, ackID: ByteBuffer?) -> ProtocolError? {
        guard cluster.isUp else { return ProtocolError(.unavailable, "the cluster's Redis cannot be reached; nothing was published") }
        // The requests waiting for Redis are bounded like an inbox.
        guard cluster.connection.pending < configuration.shardInboxCapacity else {
            return ProtocolError(.overloaded, "the hub is overloaded (Redis is slow to answer); retry later")
        }
        let ticket = session.speaksPusher ? nil : session.reserveReply()
        cluster.publish(publication).hop(to: eventLoop).assumeIsolated().whenComplete { result in
            let failure: ProtocolError? =
                switch result {
                case .success: ProtocolError?.none
                case .failure(RedisError.unavailable): ProtocolError(.unavailable, "the cluster's Redis cannot be reached; nothing was published")
                case .failure(let error): ProtocolError(.unavailable, "\(error); the message may or may not have been published")
                }
            if let ticket {
                let frame =
                    if let failure { ServerMessage.error(failure, id: ackID, allocator: self.hub.allocator) } else {
                        ackID.map { ServerMessage.ack(id: $0, allocator: self.hub.allocator) } ?? ByteBuffer()
                    }
                session.fillReply(ticket: ticket, with: frame)
            } else if let failure {
                session.push(PusherFrame.error(code: nil, message: failure.message, allocator: self.hub.allocator))
            }
        }
        return nil
    }

    /// Whether a subscription is in place, as ``whenReceiving(_:admission:members:then:)`` finds it.
    enum Readiness {
        /// Receiving the channel; with its members when they were asked for.
        case receiving(members: [PresenceMember]?)
        /// Clustered and Redis cannot be reached: the caller undoes the subscription.
        case unavailable
        /// Clustered: the channel holds its limit of users cluster-wide.
        case presenceFull
    }

    /// Calls `then` on this loop once the node receives `channel`'s messages and a presence join
    /// is decided: at once in process; clustered, once Redis has confirmed the node's
    /// subscription and answered the join. With `members`, the channel's members (of every node).
    func whenReceiving(_ channel: String, admission: Hub.PresenceAdmission = .admitted, members: Bool = false, then: @escaping (Readiness) -> Void) {
        guard let cluster = hub.cluster else { return then(.receiving(members: members ? hub.presentMembers(of: channel) : nil)) }
        let subscribed = cluster.ready(channel)
        let decided: EventLoopFuture<Readiness> =
            if case .pending(let join) = admission {
                subscribed.and(join).flatMap { _, outcome in
                    switch outcome {
                    case .full: return cluster.eventLoop.makeSucceededFuture(.presenceFull)
                    case .joined, .alreadyPresent: break
                    }
                    guard members else { return cluster.eventLoop.makeSucceededFuture(.receiving(members: nil)) }
                    return cluster.members(of: channel).map { .receiving(members: $0) }
                }
            } else if members {
                subscribed.flatMap { cluster.members(of: channel) }.map { .receiving(members: $0) }
            } else {
                subscribed.map { .receiving(members: nil) }
            }
        decided.hop(to: eventLoop).assumeIsolated().whenComplete { result in
            then((try? result.get()) ?? .unavailable)
        }
    }

    /// Numbers (in process; clustered, Redis numbered it: `seq`) and encodes one publication
    /// (this shard owns the channel) and delivers it everywhere. Returns the message's sequence
    /// number (0 for presence changes) and how many local subscribers it reached.
    @discardableResult
    func fanOut(_ publication: Publication, seq numbered: UInt64? = nil, receivedAt: UInt64) -> (seq: UInt64, reached: Int) {
        var seq: UInt64 = 0
        if case .message = publication.kind {
            seq = numbered ?? (sequences[publication.channel] ?? 0) + 1
            sequences[publication.channel] = seq
            traffic.published += 1
        }
        let frame = publication.nativeFrame(seq: seq, allocator: hub.allocator)
        // Clustered, history lives in Redis (the publish script keeps it).
        if seq > 0 && configuration.history.isEnabled && hub.cluster == nil { keep(frame, seq: seq, channel: publication.channel) }
        let reached = deliverLocally(publication, frame: frame, seq: seq, receivedAt: receivedAt)
        for other in hub.shards where other !== self && other.hasSubscribers.load(ordering: .acquiring) {
            other.send(.fanOut(publication, frame: frame, seq: seq, receivedAt: receivedAt))
        }
        return (seq, reached)
    }

    /// Hands one publication to this shard's subscribers: the same native frame to every native
    /// subscriber, and one Pusher frame, encoded here, to every Pusher subscriber; the session
    /// named by `except` (client id or socket id) is skipped.
    @discardableResult
    private func deliverLocally(_ publication: Publication, frame: ByteBuffer, seq: UInt64, receivedAt: UInt64) -> Int {
        var reached = 0
        let channel = publication.channel
        // Nothing held anywhere on this shard (the usual case): no hashing of the channel name.
        let anyHolding = !holdingSessions.isEmpty && holdingSessions[channel] != nil
        if let entry = subscribers[channel] {
            if anyHolding || publication.except != nil {
                for session in entry.sessions where session.id != publication.except {
                    session.deliver(frame, seq: seq, on: channel)
                    reached += 1
                }
            } else if entry.sessions.count > 1 && frame.readableBytes <= TickBatch.frameLimit {
                let (batch, range) = addToTickBatch(frame, channel: channel)
                for session in entry.sessions { session.push(frame, batch: batch, range: range) }
                reached = entry.sessions.count
            } else {
                for session in entry.sessions { session.push(frame) }
                reached = entry.sessions.count
            }
        }
        if let entry = pusherSubscribers[channel], let name = channel.split(separator: ":", maxSplits: 1).last,
            let pusherFrame = publication.pusherFrame(name: String(name), allocator: hub.allocator)
        {
            for session in entry.sessions where session.pusher?.socketID != publication.except {
                if anyHolding { session.deliver(pusherFrame, seq: seq, on: channel) } else { session.push(pusherFrame) }
                reached += 1
            }
        }
        guard reached > 0 else { return 0 }
        traffic.deliveries += reached
        publishArrivals.append(receivedAt)
        return reached
    }

    /// How many channels some session of this shard holds back (for tests and the curious).
    /// Loop only.
    var channelsHeldBack: Int { holdingSessions.count }

    /// A session of this shard started holding back `channel`'s deliveries. Loop only.
    func deliveriesHeld(of channel: String) {
        holdingSessions[channel, default: 0] += 1
    }

    /// A session of this shard stopped holding back `channel`'s deliveries. Loop only.
    func deliveriesReleased(of channel: String) {
        guard let count = holdingSessions[channel] else { return }
        holdingSessions[channel] = count > 1 ? count - 1 : nil
    }

    /// Appends a frame to the channel's batch for this tick (a new one when there is none or it
    /// is full) and returns the batch and where the frame lies in it.
    private func addToTickBatch(_ frame: ByteBuffer, channel: String) -> (TickBatch, Range<Int>) {
        if let batch = tickBatches[channel], batch.hasRoom(for: frame) {
            return (batch, batch.append(frame))
        }
        tickBatches[channel]?.seal()
        let batch = TickBatch(allocator: hub.allocator)
        tickBatches[channel] = batch
        return (batch, batch.append(frame))
    }

    /// Local subscribers of `channel`. Loop only.
    func subscriberCount(of channel: String) -> Int {
        (subscribers[channel]?.sessions.count ?? 0) + (pusherSubscribers[channel]?.sessions.count ?? 0)
    }

    // MARK: - History (channels this shard owns; loop only)

    /// Whether `channel` keeps history (its policy; any shard may ask).
    func keepsHistory(_ channel: String) -> Bool {
        configuration.history.isEnabled && configuration.history.policy(for: channel) != nil
    }

    /// Counts a resuming subscription of a session of this shard.
    func countRecovery(_ recovered: Bool) {
        if recovered { traffic.recovered += 1 } else { traffic.notRecovered += 1 }
    }

    /// Keeps a numbered message of `channel` when its policy says so, within the shard's share
    /// of the hub's byte cap (the shard's oldest messages go first, counted and logged).
    private func keep(_ frame: ByteBuffer, seq: UInt64, channel: String) {
        let now = NIODeadline.now().uptimeNanoseconds
        guard var history = currentHistory(of: channel, now: now, lastSeq: seq - 1) else { return }
        histories[channel] = nil
        let before = history.bytes
        _ = history.append(seq: seq, frame: frame, now: now)
        historyBytes += history.bytes - before
        histories[channel] = history
        historyOrder.append((channel, seq))
        let budget = configuration.history.maxBytes / max(1, hub.shards.count)
        while historyBytes > budget, let oldest = historyOrder.popFirst() {
            // Entries the size bound or expiry already dropped are skipped.
            guard histories[oldest.channel]?.firstSeq == oldest.seq, let cost = histories[oldest.channel]?.removeOldest() else { continue }
            historyBytes -= cost
            traffic.historyEvictions += 1
            unloggedEvictions += 1
        }
        if unloggedEvictions > 0 && now - lastEvictionLog > 10_000_000_000 {
            logger.warning(
                "history byte cap reached: oldest messages evicted",
                metadata: ["evicted": "\(unloggedEvictions)", "cap": "\(configuration.history.maxBytes)", "shard": "\(index)"])
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
        let history = ChannelHistory(policy: policy, lastSeq: lastSeq ?? sequences[channel] ?? 0, now: now)
        histories[channel] = history
        if historySweepTask == nil { startHistorySweep() }
        return history
    }

    /// What a subscriber of `channel` resuming from `since` gets, and the channel's position.
    /// Nil when the channel keeps no history.
    func recover(_ channel: String, since: StreamPosition?) -> Hub.RecoveryAnswer? {
        eventLoop.assertInEventLoop()
        guard let history = currentHistory(of: channel, now: NIODeadline.now().uptimeNanoseconds) else { return nil }
        return Hub.RecoveryAnswer(position: history.position, replay: since.map { history.recover(from: $0) })
    }

    /// A page of `channel`'s history: at most `limit` (and at most the history's size)
    /// messages after `since` (its epoch checked when given), or the latest ones.
    func historyPage(_ channel: String, since: UInt64?, epoch: String?, limit: Int) -> Result<Hub.HistoryPage, Hub.HistoryRefusal> {
        eventLoop.assertInEventLoop()
        guard let history = currentHistory(of: channel, now: NIODeadline.now().uptimeNanoseconds) else { return .failure(.none) }
        if let since, !history.canRecover(from: StreamPosition(seq: since, epoch: epoch ?? history.epoch)) {
            return .failure(.unrecoverable(history.position))
        }
        return .success(Hub.HistoryPage(position: history.position, messages: history.page(after: since, limit: min(limit, history.policy.size))))
    }

    /// The kept messages' count and epoch of each channel this shard keeps history for.
    func historyFigures() -> [String: (count: Int, epoch: String)] {
        eventLoop.assertInEventLoop()
        return histories.mapValues { ($0.count, $0.epoch) }
    }

    /// Once a second: drops expired histories (their epoch is gone with them), and rebuilds the
    /// eviction order when most of its entries name messages already dropped.
    private func startHistorySweep() {
        historySweepTask = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            self?.sweepHistories()
        }
    }

    private func sweepHistories() {
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

    // MARK: - Inbox

    /// Hands a message to this shard from any thread.
    ///
    /// Publishes are admitted only while the owner's inbox is below capacity (the publisher gets
    /// `overloaded` otherwise); once admitted, a numbered message is never dropped, so the inbox
    /// can exceed its capacity by the fan-outs and acks already in flight.
    func send(_ message: Message) {
        let scheduleDrain = inbox.withLockedValue { pending in
            pending.messages.append(message)
            pending.counts.enqueued += 1
            pending.counts.peak = max(pending.counts.peak, pending.messages.count)
            inboxDepth.store(pending.messages.count, ordering: .relaxed)
            defer { pending.drainScheduled = true }
            return !pending.drainScheduled
        }
        if scheduleDrain { eventLoop.execute { self.drainInbox() } }
    }

    private func drainInbox() {
        let batch = inbox.withLockedValue { pending in
            let batch = pending.messages
            pending.messages.removeAll(keepingCapacity: true)
            pending.drainScheduled = false
            pending.counts.dequeued += batch.count
            inboxDepth.store(0, ordering: .relaxed)
            inboxGauge.publish(pending.counts)
            return batch
        }
        for message in batch {
            switch message {
            case .publish(let publication, let receivedAt, let ack):
                fanOut(publication, receivedAt: receivedAt)
                if let ack {
                    // Back to the publisher's shard, after the fan-out to it (inboxes are FIFO).
                    ack.session.shard.send(.ack(ack, ServerMessage.ack(id: ack.id, allocator: hub.allocator)))
                }
            case .fanOut(let publication, let frame, let seq, let receivedAt):
                deliverLocally(publication, frame: frame, seq: seq, receivedAt: receivedAt)
            case .ack(let ack, let frame):
                ack.session.fillReply(ticket: ack.ticket, with: frame)
            case .clustered(let channel, let delivery, let receivedAt):
                receive(delivery, on: channel, receivedAt: receivedAt)
            case .forget(let channel):
                sequences.removeValue(forKey: channel)
                filling.removeValue(forKey: channel)
                releaseWaiters(of: channel, all: true)
            case .whenDelivered(let channel, let seq, let notify, let then):
                guard (sequences[channel] ?? 0) < seq else {
                    notify.send(.run(then))
                    continue
                }
                deliveryWaiters[channel, default: []].append((seq, notify, then))
                // A marker in order with the channel's messages brings an idle channel there too.
                hub.cluster?.publishMarker(channel) { [weak self] in
                    self?.eventLoop.execute { self?.releaseWaiters(of: channel, all: true) }
                }
            case .run(let body):
                body()
            }
        }
    }

    /// Runs the waiters the channel's numbering has reached (or all of them: the numbering
    /// restarted, or the node let the channel go).
    private func releaseWaiters(of channel: String, all: Bool = false) {
        guard var waiting = deliveryWaiters[channel] else { return }
        let reached = sequences[channel] ?? 0
        let due = waiting.filter { all || $0.seq <= reached }
        waiting.removeAll { all || $0.seq <= reached }
        deliveryWaiters[channel] = waiting.isEmpty ? nil : waiting
        for waiter in due { waiter.notify.send(.run(waiter.then)) }
    }

    /// A message (or sync marker) from Redis for a channel this shard owns: checks its number
    /// against the last one delivered, tells the subscribers when some never arrived, then
    /// delivers it with Redis's number. Presence changes are not numbered.
    ///
    /// On a channel with history, missed messages are read back from Redis and delivered in
    /// order first (what arrives meanwhile waits); only what history no longer holds is reported.
    private func receive(_ delivery: ClusterEnvelope.Delivery, on channel: String, receivedAt: UInt64) {
        if filling[channel] != nil { return filling[channel]!.append(delivery) }
        let last = sequences[channel]
        switch delivery {
        case .message(let seq, let publication):
            let verdict = ChannelSequence(last: last, next: seq)
            if case .missed = verdict { traffic.gaps += 1 }
            if case .missed(let count) = verdict, fill(channel, after: last!, count: count, then: delivery, receivedAt: receivedAt) { return }
            announceLoss(verdict, channel: channel, receivedAt: receivedAt)
            fanOut(publication, seq: seq, receivedAt: receivedAt)
            releaseWaiters(of: channel, all: verdict == .restarted)
        case .presence(let change):
            fanOut(change, receivedAt: receivedAt)
        case .marker(let seq):
            let verdict = ChannelSequence(last: last, next: seq + 1)
            if case .missed = verdict { traffic.gaps += 1 }
            if case .missed(let count) = verdict, fill(channel, after: last!, count: count, then: delivery, receivedAt: receivedAt) { return }
            announceLoss(verdict, channel: channel, receivedAt: receivedAt)
            sequences[channel] = seq
            releaseWaiters(of: channel, all: verdict == .restarted)
        }
    }

    /// Starts reading the `count` messages after `last` from the channel's history, when it has
    /// one; `pending` (and whatever arrives meanwhile) is handled once they are delivered. False
    /// when the channel keeps no history.
    private func fill(_ channel: String, after last: UInt64, count: UInt64, then pending: ClusterEnvelope.Delivery, receivedAt: UInt64) -> Bool {
        guard let cluster = hub.cluster, configuration.history.isEnabled, let policy = configuration.history.policy(for: channel) else {
            return false
        }
        filling[channel] = [pending]
        cluster.readHistory(channel, policy: policy, .range(after: last, count: Int(min(count, UInt64(Int.max)))))
            .hop(to: eventLoop).assumeIsolated().whenComplete { result in
                guard let queued = self.filling.removeValue(forKey: channel) else { return }  // let go meanwhile
                var next = last + 1
                if case .success(let answer) = result, answer.complete {
                    for message in answer.messages where message.seq == next {
                        self.fanOut(message.publication, seq: message.seq, receivedAt: receivedAt)
                        next += 1
                    }
                }
                let target = last + count
                if next <= target {
                    // History no longer holds them: reported, as without history.
                    self.announceLoss(.missed(target - next + 1), channel: channel, receivedAt: receivedAt)
                    self.sequences[channel] = target
                } else {
                    self.traffic.gapsFilled += Int(count)
                    self.logger.info("gap filled from history", metadata: ["channel": "\(channel)", "messages": "\(count)"])
                }
                for delivery in queued { self.receive(delivery, on: channel, receivedAt: receivedAt) }
            }
        return true
    }

    private func announceLoss(_ verdict: ChannelSequence, channel: String, receivedAt: UInt64) {
        guard let notice = verdict.lossNotice else { return }
        if case .missed(let count) = verdict { traffic.messagesLost += Int(count) } else { traffic.numberingRestarts += 1 }
        logger.warning("messages lost", metadata: ["channel": "\(channel)", "why": "\(notice)"])
        report(.error, detail: "#\(channel): \(notice)")
        fanOut(Publication(channel: channel, kind: .messagesLost(notice: notice), data: ByteBuffer(), from: "server"), receivedAt: receivedAt)
    }

    /// Current inbox depth, from any thread.
    var inboxBacklog: Int { inboxDepth.load(ordering: .relaxed) }

    // MARK: - Once-per-tick flush

    /// Adds a session to this tick's flush; the first one schedules the flush task.
    func scheduleFlush(_ session: Session) {
        flushQueue.append(session)
        if flushQueue.count == 1 {
            eventLoop.assumeIsolated().execute { self.flushAll() }
        }
    }

    private func flushAll() {
        // A flush can make a session writable again and queue it anew, so take the list first.
        var batch: [Session] = []
        swap(&batch, &flushQueue)
        // The tick's frames are complete: from here on the sessions write slices of them.
        for tickBatch in tickBatches.values { tickBatch.seal() }
        tickBatches.removeAll(keepingCapacity: true)
        for session in batch { session.flush() }
        if !publishArrivals.isEmpty {
            let now = NIODeadline.now().uptimeNanoseconds
            for arrival in publishArrivals { _ = latencies.record(now > arrival ? (now - arrival) / 1000 : 0) }
            publishArrivals.removeAll(keepingCapacity: true)
        }
    }

    // MARK: - Operator actions (loop only)

    /// Closes one session with `code`; false if it is not on this shard.
    func kick(_ id: String, code: CloseCode, reason: String) -> Bool {
        eventLoop.assertInEventLoop()
        guard let session = sessions[id], session.isOpen else { return false }
        session.close(code, reason, discardQueued: true)
        report(.kick, client: id, code: Int(code.rawValue), detail: reason)
        return true
    }

    /// Closes every session (optionally only subscribers of `channel`); returns how many.
    func kickAll(channel: String?, code: CloseCode, reason: String) -> Int {
        eventLoop.assertInEventLoop()
        let targets =
            channel.map { name in (subscribers[name]?.sessions ?? []) + (pusherSubscribers[name]?.sessions ?? []) } ?? Array(sessions.values)
        var kicked = 0
        for session in targets where kick(session.id, code: code, reason: reason) { kicked += 1 }
        return kicked
    }

    /// Closes this shard's connections of Pusher app `appID` whose user is `userID` (signed in,
    /// or present in a presence channel) with 4009; returns how many.
    func terminate(appID: String, userID: String, reason: String) -> Int {
        eventLoop.assertInEventLoop()
        var closed = 0
        for session in sessions.values where session.isOpen && session.pusher?.app.id == appID {
            let present = presence[ObjectIdentifier(session)]?.values.contains(userID) ?? false
            guard session.pusher?.signedInUser == userID || present else { continue }
            session.close(.pusherUnauthorized, reason, discardQueued: false)
            report(.kick, client: session.id, code: Int(CloseCode.pusherUnauthorized.rawValue), detail: reason)
            closed += 1
        }
        return closed
    }

    /// Sends an operator's broadcast to every open session, pre-encoded once per protocol;
    /// returns how many.
    func broadcast(native: ByteBuffer, pusher: ByteBuffer) -> Int {
        eventLoop.assertInEventLoop()
        var reached = 0
        for session in sessions.values where session.isOpen {
            switch session.route {
            case .native: session.push(native)
            case .pusher: session.push(pusher)
            case .echo, .pusherRefused: continue
            }
            reached += 1
        }
        traffic.deliveries += reached
        return reached
    }

    // MARK: - Inspection (loop only)

    /// The order keys of the sessions `query` matches: the first half of a windowed query,
    /// without a string copied; rows are built only for the window, by ``clientRows(numbers:)``.
    func clientOrderKeys(matching query: ClientQuery) -> (sample: UInt64, keys: [ClientOrderKey]) {
        eventLoop.assertInEventLoop()
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        var keys: [ClientOrderKey] = []
        keys.reserveCapacity(query.id == nil ? sessions.count : 1)
        forEachSession(matching: query) { session in keys.append(orderKey(of: session, in: query, monotonicNow: monotonic, wallNow: wall)) }
        return (figureSamples, keys)
    }

    private func orderKey(of session: Session, in query: ClientQuery, monotonicNow: UInt64, wallNow: Double) -> ClientOrderKey {
        query.orderKey(rank: session.sortRank(query.sort, monotonicNow: monotonicNow, wallNow: wallNow), number: session.number, owner: index)
    }

    /// The order keys of the sessions `query` matches whose figure that `query` sorts by moved
    /// since sample `sample` (see ``figureSamples``): none when the shard has not sampled since,
    /// those that moved at its latest sample when that is the next one, nil when it is further
    /// on (the moves of older samples are not kept).
    func movedClientOrderKeys(matching query: ClientQuery, since sample: UInt64) -> (sample: UInt64, keys: [ClientOrderKey])? {
        eventLoop.assertInEventLoop()
        if sample == figureSamples { return (sample, []) }
        guard sample + 1 == figureSamples else { return nil }
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        var keys: [ClientOrderKey] = []
        let figure = MovedFigures(readBy: query.sort)
        for (session, moved) in movedAtLastSample where moved.contains(figure) && query.matches(session: session, user: user(of: session)) {
            keys.append(orderKey(of: session, in: query, monotonicNow: monotonic, wallNow: wall))
        }
        return (figureSamples, keys)
    }

    /// Calls `body` with each session `query`'s id, channel and filter let through (every
    /// session without them; only the one with the id, found by id, for an id query).
    private func forEachSession(matching query: ClientQuery, _ body: (Session) -> Void) {
        if let id = query.id {
            if let session = sessions[id], query.matches(session: session, user: user(of: session)) { body(session) }
            return
        }
        guard query.channel != nil || !query.filter.isEmpty else { return sessions.values.forEach(body) }
        for session in sessions.values where query.matches(session: session, user: user(of: session)) { body(session) }
    }

    /// The rows of the sessions numbered `numbers` that are still here, with their numbers.
    func clientRows(numbers: [UInt64]) -> [(number: UInt64, row: ClientRow)] {
        eventLoop.assertInEventLoop()
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        return numbers.compactMap { number in
            sessions[hub.clientID(of: number)].map {
                (number, $0.row(monotonicNow: monotonic, wallNow: wall, presenceUsers: presenceUsers(of: $0)))
            }
        }
    }

    /// Who a session is, as its row shows it.
    private func user(of session: Session) -> String? {
        session.user(presenceUsers: presenceUsers(of: session))
    }

    private func presenceUsers(of session: Session) -> [String] {
        presence[ObjectIdentifier(session)].map { Set($0.values).sorted() } ?? []
    }

    /// Samples every session's figures (see ``Session/sampleFigures(elapsed:)``) and keeps the
    /// sessions whose figures moved.
    func sampleClientRates(elapsed: Double?) {
        eventLoop.assertInEventLoop()
        movedAtLastSample.removeAll(keepingCapacity: true)
        for session in sessions.values {
            let moved = session.sampleFigures(elapsed: elapsed)
            if !moved.isEmpty { movedAtLastSample.append((session, moved)) }
        }
        figureSamples += 1
    }

    /// Local subscriber counts, and publish counts of the channels this shard owns.
    func channelCounts() -> (subscribers: [String: Int], published: [String: Int]) {
        eventLoop.assertInEventLoop()
        return (
            subscribers.mapValues { $0.sessions.count }.merging(pusherSubscribers.mapValues { $0.sessions.count }, uniquingKeysWith: +),
            sequences.mapValues { Int($0) }
        )
    }

    /// Keeps ``queuedFrames`` and the backed-up sessions as `session`'s mailbox went from
    /// `old` frames to `new`.
    func mailboxDepthChanged(_ session: Session, from old: Int, to new: Int) {
        queuedFrames += new - old
        if old == 0 {
            backedUpSessions[ObjectIdentifier(session)] = session
        } else if new == 0 {
            backedUpSessions.removeValue(forKey: ObjectIdentifier(session))
        }
    }

    /// The rows of at most `limit` sessions, the deepest mailboxes first (ties by client
    /// number); sessions with nothing queued fill the rest in no particular order. Costs the
    /// backed-up sessions and `limit`, not every session.
    func busiestClientRows(limit: Int) -> [ClientRow] {
        eventLoop.assertInEventLoop()
        var chosen = Array(backedUpSessions.values.sorted { ($0.queuedFrames, $1.number) > ($1.queuedFrames, $0.number) }.prefix(limit))
        for session in sessions.values where session.queuedFrames == 0 {
            guard chosen.count < limit else { break }
            chosen.append(session)
        }
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        return chosen.map { $0.row(monotonicNow: monotonic, wallNow: wall, presenceUsers: presenceUsers(of: $0)) }
    }

    /// The latencies recorded since the last call.
    func takeLatencies() -> Histogram<UInt64> {
        defer { latencies.reset() }
        return latencies
    }

    // MARK: - Counters

    func countInbound(bytes: Int) {
        traffic.messagesIn += 1
        traffic.bytesIn += bytes
    }

    func countOutbound(bytes: Int) {
        traffic.messagesOut += 1
        traffic.bytesOut += bytes
    }

    func countSlowConsumerClose(_ session: Session) {
        traffic.slowConsumerCloses += 1
        report(.slowConsumer, client: session.id, code: Int(CloseCode.slowConsumer.rawValue), detail: "outbound mailbox full")
    }

    // MARK: - Heartbeat

    private func startHeartbeat() {
        let interval = TimeAmount(configuration.heartbeatInterval)
        heartbeatTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.heartbeat()
        }
    }

    /// Pings the sessions silent for an interval (active ones need no ping); closes with 1001
    /// those that stayed silent for an interval after their ping. A client is always pinged
    /// before it is closed, even when the loop was too busy to run the heartbeat on time.
    private func heartbeat() {
        let now = NIODeadline.now().uptimeNanoseconds
        let interval = UInt64(TimeAmount(configuration.heartbeatInterval).nanoseconds)
        let ping = WireFrame.make(.ping, payload: EmptyCollection<UInt8>(), allocator: hub.allocator)
        for session in sessions.values { session.checkHeartbeat(now: now, interval: interval, ping: ping) }
    }

    /// Stops the heartbeat timer and the history sweep (shutdown).
    func stopHeartbeat() {
        heartbeatTask?.cancel()
        heartbeatTask = nil
        historySweepTask?.cancel()
        historySweepTask = nil
    }
}

/// Message and byte totals of one shard (owned by its loop).
struct Traffic: Sendable {
    var connects = 0
    var disconnects = 0
    var messagesIn = 0
    var bytesIn = 0
    var messagesOut = 0
    var bytesOut = 0
    var published = 0
    var deliveries = 0
    var slowConsumerCloses = 0
    /// Clustered: gaps in a channel's `seq` this node noticed (filled from history or not).
    var gaps = 0
    /// Clustered: messages published that never reached this node (gaps in `seq`).
    var messagesLost = 0
    /// Clustered: times a channel's numbering began again (Redis came back empty).
    var numberingRestarts = 0
    /// Subscriptions with `since` that got every missed message.
    var recovered = 0
    /// Subscriptions with `since` that could not be recovered (epoch changed, messages gone).
    var notRecovered = 0
    /// Kept messages the history byte cap evicted.
    var historyEvictions = 0
    /// Clustered: missed messages delivered late from history instead of reported lost.
    var gapsFilled = 0
}

extension ClientQuery {
    /// Whether `session` passes this query's conditions (`user` is only read with a filter set).
    fileprivate func matches(session: Session, user: @autoclosure () -> String?) -> Bool {
        matches(
            id: session.id, remoteAddress: session.remoteAddress, userAgent: session.userAgent, channels: session.channels,
            socketID: session.pusher?.socketID, user: user())
    }
}
