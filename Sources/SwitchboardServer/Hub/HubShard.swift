import Histogram
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import SwitchboardCore

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
    var sessions: [String: Session] = [:]
    /// Outbound frames waiting in this shard's sessions' mailboxes, kept as they move.
    var queuedFrames = 0
    /// How many times the metrics collector sampled the clients' figures, and the sessions whose
    /// figures moved at the latest sample (what carries orders by moving columns forward).
    var figureSamples: UInt64 = 0
    var movedAtLastSample: [(session: Session, moved: MovedFigures)] = []
    /// The sessions whose mailbox holds frames: few while clients keep up.
    var backedUpSessions: [ObjectIdentifier: Session] = [:]
    /// The user each present session is present as, per presence channel it joined (only
    /// sessions in some presence channel have an entry).
    var presence: [ObjectIdentifier: [String: String]] = [:]
    /// Native subscribers by channel.
    var subscribers: [String: Subscribers] = [:]
    /// Pusher subscribers by channel, apart so native deliveries stay one plain loop.
    var pusherSubscribers: [String: Subscribers] = [:]
    private var flushQueue: [Session] = []
    /// This tick's frames per channel with several local native subscribers; sealed at the flush.
    private var tickBatches: [String: TickBatch] = [:]
    /// How many of this shard's sessions hold back each channel's deliveries (until their
    /// subscription reply or replay is out): only these channels' deliveries ask each subscriber
    /// whether it holds; all others go straight to the mailboxes, one check per publication.
    private var holdingSessions: [String: Int] = [:]
    /// Arrival times of publishes fanned out this tick; recorded as latencies at the flush.
    private var publishArrivals: [UInt64] = []
    var latencies = LatencyHistogram.make()
    private var heartbeatTask: RepeatedTask?
    /// What each expiring session waits for (its expiry or, after `refresh_required`, the end
    /// of its grace); sessions that never expire have no entry (see ``Session/scheduleExpiry()``).
    var expiryTimers = ExpiryTimers()
    /// The one task that ends the soonest of those waits, and when.
    var expiryTask: (task: Scheduled<Void>, at: NIODeadline)?
    /// The channels this shard owns: their numbering and, in process, their history.
    private(set) var owned: OwnedChannels!

    // Cross-thread state.
    private let inbox = NIOLockedValueBox(PendingInbox())
    private let inboxDepth = Atomic<Int>(0)
    /// Live session count, published from `sessions.count` whenever it changes.
    let sessionCount = Atomic<Int>(0)
    /// Whether any session here subscribes to anything: lets an owner skip a hop.
    let hasSubscribers = Atomic<Bool>(false)
    /// Message and byte totals; loop-owned, read on the loop by the hub's statistics.
    var traffic = Traffic()
    /// The running traces' taps on this shard (loop-owned).
    var traces = ShardTraces()

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
    final class Subscribers {
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
        self.owned = OwnedChannels(shard: self)
    }

    // MARK: - Sessions

    func register(_ session: Session) {
        eventLoop.preconditionInEventLoop()
        sessions[session.id] = session
        sessionCount.store(sessions.count, ordering: .relaxed)
        hub.clientOrders.membershipChanged()
        traffic.connects += 1
        if !traces.all.isEmpty { tapIfTraced(session) }
        logger.info("client connected", metadata: ["client": "\(session.id)", "remote": "\(session.remoteAddress)"])
        report(
            .connect, client: session.id, detail: session.userAgent.isEmpty ? session.remoteAddress : "\(session.remoteAddress) \(session.userAgent)")
        if heartbeatTask == nil { startHeartbeat() }
    }

    func unregister(_ session: Session) {
        unsubscribeAll(session)
        expiryTimers.remove(session.number)
        guard sessions.removeValue(forKey: session.id) != nil else { return }
        if session.taps != nil { untap(session) }
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
        hub.engine.subscriptionsChanged(channel, on: self, by: 1, holders: wasEmpty ? .first : .unchanged)
        if !traces.channels.isEmpty { traceMembership(.subscribe, of: session, in: channel) }
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
        let emptied = before > 0 && subscriberCount(of: channel) == 0
        hub.engine.subscriptionsChanged(channel, on: self, by: -1, holders: emptied ? .last : .unchanged)
        if !traces.channels.isEmpty { traceMembership(.unsubscribe, of: session, in: channel) }
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
    /// channel already holds `limit` users, in which case the subscription is undone. When the
    /// engine decides later, pass the admission to ``whenReceiving(_:admission:members:then:)``.
    func join(_ session: Session, as member: PresenceMember, in channel: String, limit: Int) -> PresenceAdmission {
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

    /// Hands a publish from a local session to the engine, which numbers, keeps and fans it out
    /// and acks it in the session's request order. Returns why it was refused (the server is
    /// draining, the owner's inbox is full, the engine cannot take it): refused, never lost.
    func publish(_ publication: Publication, from session: Session, ackID: ByteBuffer?) -> ProtocolError? {
        guard !hub.isDraining else { return ProtocolError(.overloaded, "the server is shutting down; nothing was published") }
        return hub.engine.publish(publication, from: session, ackID: ackID)
    }

    /// Whether this (owner) shard's inbox takes another publish; counts a drop when not.
    func admitsPublish() -> Bool {
        guard inboxBacklog < configuration.shardInboxCapacity else {
            inbox.withLockedValue { $0.counts.dropped += 1 }
            return false
        }
        return true
    }

    /// Calls `then` on this loop once the node receives `channel`'s messages and a presence join
    /// is decided (see ``Engine/whenReceiving(_:on:admission:members:then:)``).
    func whenReceiving(
        _ channel: String, admission: PresenceAdmission = .admitted, members: Bool = false, then: @escaping (SubscriptionReadiness) -> Void
    ) {
        hub.engine.whenReceiving(channel, on: self, admission: admission, members: members, then: then)
    }

    /// Numbers (in process) a publication of a channel this shard owns, fans it out and keeps it
    /// in the channel's history: the message's `seq` (0 for presence changes). A message whose
    /// idempotency key was published with before (within `idempotency-ttl`) is not sent again:
    /// the outcome is that publish's `seq`, marked duplicate.
    @discardableResult
    func publishAsOwner(_ publication: Publication, receivedAt: UInt64) -> PublishOutcome {
        guard case .message = publication.kind else {
            fanOut(publication, seq: 0, receivedAt: receivedAt)
            return PublishOutcome(seq: 0, duplicate: false)
        }
        // The publish's arrival (monotonic) times its key: no clock read per publish.
        let now = receivedAt
        if let key = publication.idempotencyKey, let seq = owned.idempotencyKeys.seq(of: key, channel: publication.channel, now: now) {
            return PublishOutcome(seq: seq, duplicate: true)
        }
        let seq = owned.number(publication.channel)
        traffic.published += 1
        let frame = fanOut(publication, seq: seq, receivedAt: receivedAt)
        owned.keep(frame, seq: seq, channel: publication.channel)
        if let key = publication.idempotencyKey { owned.idempotencyKeys.remember(key, channel: publication.channel, seq: seq, now: now) }
        return PublishOutcome(seq: seq, duplicate: false)
    }

    /// Fans out a message of a channel this shard owns that the engine numbered `seq`.
    func deliverNumbered(_ publication: Publication, seq: UInt64, receivedAt: UInt64) {
        owned.setPosition(seq, of: publication.channel)
        traffic.published += 1
        fanOut(publication, seq: seq, receivedAt: receivedAt)
    }

    /// Encodes one publication once and delivers it to this shard's subscribers and, one hop
    /// per shard, to every other shard with subscribers; returns the native frame.
    @discardableResult
    func fanOut(_ publication: Publication, seq: UInt64, receivedAt: UInt64) -> ByteBuffer {
        let frame = publication.nativeFrame(seq: seq, allocator: hub.allocator)
        if !traces.channels.isEmpty { tracePublication(publication, seq: seq) }
        deliverLocally(publication, frame: frame, seq: seq, receivedAt: receivedAt)
        for other in hub.shards where other !== self && other.hasSubscribers.load(ordering: .acquiring) {
            other.send(.fanOut(publication, frame: frame, seq: seq, receivedAt: receivedAt))
        }
        return frame
    }

    /// Hands one publication to this shard's subscribers: the same native frame to every native
    /// subscriber, and one Pusher frame, encoded here, to every Pusher subscriber; the session
    /// named by `except` (client id or socket id) is skipped.
    @discardableResult
    private func deliverLocally(_ publication: Publication, frame: ByteBuffer, seq: UInt64, receivedAt: UInt64) -> Int {
        var reached = 0
        var pusherBytes = 0
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
                for session in entry.sessions { session.enqueue(frame, batch: batch, range: range) }
                reached = entry.sessions.count
            } else {
                for session in entry.sessions { session.enqueue(frame) }
                reached = entry.sessions.count
            }
        }
        if let entry = pusherSubscribers[channel], let name = channel.split(separator: ":", maxSplits: 1).last,
            let pusherFrame = publication.pusherFrame(name: String(name), allocator: hub.allocator)
        {
            pusherBytes = pusherFrame.readableBytes
            for session in entry.sessions where session.pusher?.socketID != publication.except {
                if anyHolding { session.deliver(pusherFrame, seq: seq, on: channel) } else { session.enqueue(pusherFrame) }
                reached += 1
            }
        }
        guard reached > 0 else { return 0 }
        if !traces.sessions.isEmpty {
            traceDeliveries(publication, seq: seq, receivedAt: receivedAt, nativeBytes: frame.readableBytes, pusherBytes: pusherBytes)
        }
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
                let outcome = publishAsOwner(publication, receivedAt: receivedAt)
                if let ack {
                    // Back to the publisher's shard, after the fan-out to it (inboxes are FIFO).
                    let frame = outcome.ack(id: ack.id, keyed: publication.idempotencyKey != nil, allocator: hub.allocator)
                    ack.session.shard.send(.ack(ack, frame))
                }
            case .fanOut(let publication, let frame, let seq, let receivedAt):
                deliverLocally(publication, frame: frame, seq: seq, receivedAt: receivedAt)
            case .ack(let ack, let frame):
                ack.session.fillReply(ticket: ack.ticket, with: frame)
            case .run(let body):
                body()
            }
        }
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
        if !traces.all.isEmpty { traceDrop(of: session) }
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
        owned.stop()
    }
}
