import Logging
import NIOCore
import RedisClient
import Synchronization
import SwitchboardCore

/// This node's link to the cluster's Redis: the publish path (one script numbers a message and
/// publishes it, pipelined with every other publish of the tick) and the subscriber connection
/// that brings every message of a channel this node has subscribers for, once per node.
///
/// ```
/// shard.publish ──► ClusterLink.publish ──► EVALSHA publish (INCR seq, PUBLISH) ──► ack
/// Redis ──► subscriber connection ──► ClusterLink.received ──► owner shard ──► encode once ──► sessions
/// ```
///
/// The link knows channels, not sessions: shards tell it when they start and stop holding a
/// channel, and hand it what to publish; it hands decoded deliveries back through `deliver`.
/// Its state lives on one event loop, shared by its two Redis connections.
final class ClusterLink: @unchecked Sendable {
    /// Where a decoded message (or a channel's sync marker) goes: the channel's owner shard.
    typealias Deliver = @Sendable (_ channel: String, _ delivery: ClusterEnvelope.Delivery) -> Void

    let configuration: ClusterConfiguration
    /// Every key and pub/sub name the link uses.
    let keys: ClusterKeys
    /// Which channels keep history (in Redis streams, see ClusterHistory.swift).
    let history: HistorySettings
    /// How long a publish's idempotency key is kept (a key of its own, in the channel's slot).
    let idempotencyTTL: Duration
    /// The epoch a channel's history gets if Redis has none for it, one per history script call.
    let epochs = EpochSource()
    let nodeName: String
    let eventLoop: any EventLoop
    let connection: ClusterRedis
    let subscriber: ClusterSubscriber
    /// With Sentinel: the sentinels' failover announcements, which move both connections.
    private var sentinelWatch: SentinelWatch?
    /// The cluster's nodes, with this one's heartbeat.
    let nodes: NodeRegistry
    let logger: Logger
    /// The link's ups and downs, told to the event log (see ``reportLinkChanges(to:)``).
    private let linkWatch = Mutex<(watch: LinkWatch, report: (@Sendable (String) -> Void)?, stopping: Bool)>((LinkWatch(), nil, false))
    /// Where the subscriber connection's messages go; set once in ``start(deliver:resynced:presence:perform:webhook:)``,
    /// before the connection exists, and read on the loop only.
    private let route = Route()

    /// Runs `send` with the node's presence under its registry's lock; nil when it cannot.
    typealias Presence = @Sendable (_ send: ([(channel: String, member: PresenceMember)]) -> EventLoopFuture<Int>) -> EventLoopFuture<Int>?

    private final class Route: @unchecked Sendable {
        var deliver: (String, ClusterEnvelope.Delivery) -> Void = { _, _ in }
        /// A presence channel's members as Redis holds them (`announce`: after a reconnect).
        var resynced: (String, (current: [PresenceMember], announce: Bool)) -> Void = { _, _ in }
        /// Calls its argument with the node's presence, as its registry holds it, under the
        /// registry's lock (so that what is sent is in order with the node's joins and leaves).
        var presence: Presence = { send in send([]) }
        /// A request or answer on the node's own channels.
        var command: (ByteBuffer) -> Void = { _ in }
        /// A batch of another node's trace lines on the node's own channel (``ClusterTraces``).
        var traceLines: (ByteBuffer) -> Void = { _ in }
        /// Webhooks the cluster's scripts announced, for this node to deliver, and what to do
        /// once they were.
        var webhooks: ([WebhookAnnouncement], @escaping @Sendable () -> Void) -> Void = { _, done in done() }
        /// Whether the node serves a hub (``start(deliver:resynced:presence:perform:webhook:)``):
        /// only then does it re-assert what it holds.
        var serving = false
        /// Fences every channel the node delivered for which the predicate holds (after a master
        /// change); done when answered.
        var fence: ((@escaping @Sendable (String) -> Bool) -> EventLoopFuture<Void>)?
        /// The epoch a channel held for the first time is numbered in.
        var learned: (String, String) -> Void = { _, _ in }
    }

    // Loop-confined.
    /// Shards with subscribers, per channel: the node subscribes while it is above zero.
    private var holders: [String: Int] = [:]
    /// The node's subscriptions per channel it holds: what it tells Redis (as a value, never as
    /// a change, so telling it twice is harmless).
    private var subscriptions: [String: Int] = [:]
    /// Channels whose subscription count Redis has not been told yet.
    private var unsentCounts = Set<String>()
    /// Presence channels whose members the node keeps track of (see ``ClusterReceiver``).
    private var trackedPresence = Set<String>()
    /// Channels subscribed again after a reconnect whose numbering has not been checked yet.
    private var unsynced = Set<String>()
    /// Master changes not fenced yet: once the request connection is ready, the node fences the
    /// channels it holds whose keys they moved (ClusterFence.swift).
    private var masterChanges: [ClusterRedis.MasterChange] = []
    /// Fences after a master change that have not answered yet.
    private var fencesRunning = 0
    /// From the loss of the request connection (or a master change) until the channels whose
    /// master changed are fenced: the node's own publishes wait (refused as unavailable) so none
    /// takes a reused number.
    private let fencing = Atomic<Bool>(false)
    /// Something the node told Redis may not have been carried out: re-assert on the next chance.
    var needsReassert = false
    /// A re-assert is under way; another was asked for meanwhile.
    private var reasserting = false
    /// The task of the re-assert under way, for ``stop()`` to wait for.
    private var reassertTask: Task<Void, Never>?
    private var reassertAgain = false
    /// Until when presence is not read again (the nodes are still re-asserting after Redis lost
    /// its data).
    private var quietUntil = NIODeadline.distantPast
    /// How long after Redis lost its data presence is not compared (every node re-asserts its
    /// own within its reconnect backoff, at most 2 s).
    static let settleAfterDataLoss = TimeAmount.seconds(10)
    /// Questions to other nodes waiting for their answers, by request id.
    var asks: [UInt64: Ask] = [:]
    var nextAsk: UInt64 = 0
    /// Node-bus requests being carried out now (each in its own task), at most ``maxCommandsInFlight``.
    var commandsInFlight = 0
    /// The partitions whose webhook stream may hold entries this node read but did not
    /// acknowledge (all at the start; one after a round whose reply was lost).
    var webhooksUnread: Set<Int> = []
    /// The partition whose abandoned webhook announcements the next round claims (one per round).
    var webhooksClaimNext = 0
    /// Whether this node's scripts append webhook announcements to the cluster's stream.
    let announcesWebhooks: Bool
    /// The other live nodes the last admission of a user counted, whose keys the next declares
    /// (so that it is one round trip while no node joins).
    let admissionPeers = Mutex<Set<String>>([])

    /// `KEYS[1]` the channel's sequence, `ARGV[1]` its pub/sub name, `ARGV[2]` the envelope; with
    /// an idempotency key, `KEYS[2]` its key and `ARGV[3]` how long to keep it (milliseconds).
    /// Answers the new `seq`, or minus the `seq` the key was first published with (nothing is
    /// published again).
    static let publishScript = ClusterScript(
        """
        if KEYS[2] then
          local first = redis.call('GET', KEYS[2])
          if first then return -tonumber(first) end
        end
        local seq = redis.call('INCR', KEYS[1])
        redis.call('PUBLISH', ARGV[1], seq .. '\\n' .. ARGV[2])
        if KEYS[2] then redis.call('SET', KEYS[2], seq, 'PX', ARGV[3]) end
        return seq
        """)
    /// Publishes the channel's current number with no message (a sync marker), in order with its
    /// messages, so every node holding the channel learns where numbering stands.
    static let syncScript = ClusterScript(
        """
        local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
        redis.call('PUBLISH', ARGV[1], seq .. '\\n')
        return seq
        """)

    /// Every script the link runs (the node registry has its own, ``NodeRegistry/scripts``),
    /// loaded on each new connection.
    static let scripts =
        [publishScript, syncScript, reassertScript, publishKeepingScript, historyScript, fenceScript, admitUserScript, userCountsScript]
        + presenceScripts

    init(
        configuration: ClusterConfiguration, history: HistorySettings, idempotencyTTL: Duration = .seconds(300), address: RedisAddress,
        nodeName: String, eventLoop: any EventLoop, announcesWebhooks: Bool, logger: Logger
    ) {
        self.announcesWebhooks = announcesWebhooks
        self.configuration = configuration
        let keys = ClusterKeys(prefix: configuration.prefix, partitions: configuration.partitions)
        self.keys = keys
        webhooksUnread = Set(keys.allPartitions)
        self.history = history
        self.idempotencyTTL = idempotencyTTL
        self.nodeName = nodeName
        self.eventLoop = eventLoop
        self.logger = logger
        let clientName = "switchboard-" + String(nodeName.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" })
        var redis = RedisConnection.Configuration(address: address, requestDeadline: configuration.requestDeadline, clientName: clientName)
        redis.replicaAcknowledgements = configuration.ackReplicas
        redis.replicaTimeout = configuration.ackTimeout
        connection = ClusterRedis(configuration: redis, eventLoop: eventLoop)
        for script in Self.scripts { connection.register(script) }
        nodes = NodeRegistry(
            connection: connection, nodeName: nodeName, keys: keys, keyLifetime: configuration.keyLifetime,
            announcesWebhooks: announcesWebhooks, logger: logger)
        let route = self.route
        subscriber = ClusterSubscriber(
            configuration: RedisConnection.Configuration(
                address: address, requestDeadline: configuration.requestDeadline, clientName: clientName + "-sub"),
            eventLoop: eventLoop
        ) { [commandPrefix = Array(keys.busNamesStart.utf8)] name, payload in
            if name.readableBytesView.starts(with: commandPrefix) {
                if payload.readableBytesView.starts(with: ClusterTraces.linesHead.utf8) { return route.traceLines(payload) }
                return route.command(payload)
            }
            guard let delivery = ClusterEnvelope.decode(payload), let channel = keys.channel(ofPubSubName: name) else { return }
            route.deliver(channel, delivery)
        }
        subscriber.onResubscribe { [weak self] channels in
            guard let self else { return }
            self.unsynced.formUnion(channels.compactMap { keys.channel(ofPubSubName: ByteBuffer(string: $0)) })
            self.sync()
            // What pub/sub sent while the subscriber was away is lost: presence is read again.
            self.reassert()
        }
        if address.usesSentinel {
            sentinelWatch = SentinelWatch(
                address: address, eventLoop: eventLoop, requestDeadline: configuration.requestDeadline, clientName: clientName + "-sentinel"
            ) { [weak self] from, to in self?.masterSwitched(from: from, to: to) }
        }
        connection.onMasterChange { [weak self] change in self?.masterChanged(change) }
        connection.onResharding { [weak self] moved in self?.warn("Redis Cluster resharding: \(moved)") }
        connection.onLost { [weak self] why in
            self?.fencing.store(true, ordering: .relaxed)
            self?.linkChanged(.requests, up: false, why: why)
        }
        subscriber.onUpDown { [weak self] up in self?.linkChanged(.subscriber, up: up) }
        connection.onReady { [weak self] in
            guard let self else { return }
            self.linkChanged(.requests, up: true)
            self.logger.info("redis link up", metadata: ["redis": "\(address)", "node": "\(nodeName)"])
            self.fenceMasterChanges()
            self.sync()
            // Each new connection checks whether Redis still has its data, then re-asserts what
            // the node holds: quietly when Redis lost its data (for the others nothing changed).
            self.reassert()
        }
    }

    /// Connects both Redis connections; from now on each message of a channel the node holds
    /// goes to `deliver` (a late one, after the node let the channel go, is dropped), presence
    /// channels' members read after a reconnect to `resynced`, node commands to `perform`, and
    /// the webhooks the cluster's scripts announced (when the node delivers webhooks) to `webhook`.
    func start(
        deliver: @escaping Deliver, resynced: @escaping @Sendable (String, (current: [PresenceMember], announce: Bool)) -> Void,
        presence: @escaping Presence,
        perform: @escaping @Sendable (NodeCommand) async -> (Int?, [UInt8]),
        webhooks: @escaping @Sendable ([WebhookAnnouncement], @escaping @Sendable () -> Void) -> Void,
        fence: @escaping @Sendable (@escaping @Sendable (String) -> Bool) -> EventLoopFuture<Void>,
        learned: @escaping @Sendable (String, String) -> Void
    ) {
        route.resynced = resynced
        route.fence = fence
        route.learned = learned
        route.presence = presence
        route.serving = true
        route.webhooks = webhooks
        route.command = { [weak self] payload in self?.receiveCommand(payload, perform: perform) }
        subscriber.keep(busName)
        subscriber.keep(directName(nodeName))
        route.deliver = { [weak self] channel, delivery in
            guard let self, self.holders[channel] != nil else { return }
            deliver(channel, delivery)
        }
        connection.start()
        subscriber.start()
        sentinelWatch?.start()
        if announcesWebhooks { startDeliveringWebhooks() }
    }

    /// Sends the batches of trace lines other nodes send this one to `receive`.
    func onTraceLines(_ receive: @escaping (ByteBuffer) -> Void) {
        route.traceLines = receive
    }

    /// Hands webhook announcements read from the cluster's stream to the node's dispatcher;
    /// `done` runs once they were delivered.
    func handOver(_ announcements: [WebhookAnnouncement], then done: @escaping @Sendable () -> Void) {
        route.webhooks(announcements, done)
    }

    /// Stops serving (no re-assert starts any more), waits for one under way, then closes both
    /// connections: nothing is left to run on the hub's loops once they shut down.
    func stop() async {
        linkWatch.withLock { $0.stopping = true }
        let running: Task<Void, Never>? =
            try? await eventLoop.submit {
                self.route.serving = false
                return self.reassertTask
            }.get() ?? nil
        await running?.value
        await sentinelWatch?.stop()
        await subscriber.stop()
        await connection.stop()
    }

    /// Tells `report` (and the log, at warning level) each time one of the node's Redis
    /// connections is lost or back.
    func reportLinkChanges(to report: @escaping @Sendable (String) -> Void) {
        linkWatch.withLock { $0.report = report }
    }

    private func linkChanged(_ connection: LinkWatch.Connection, up: Bool, why: String? = nil) {
        let (line, report) = linkWatch.withLock { state -> (String?, (@Sendable (String) -> Void)?) in
            guard !state.stopping else { return (nil, nil) }
            return (state.watch.changed(connection, up: up, why: why, now: .now), state.report)
        }
        guard let line else { return }
        logger.warning("\(line)", metadata: ["node": "\(nodeName)"])
        report?(line)
    }

    /// Something the operator must see about the link: logged at warning level and sent to the
    /// event pane (not once the node stops).
    private func warn(_ line: String) {
        let report = linkWatch.withLock { $0.stopping ? nil : $0.report }
        logger.warning("\(line)", metadata: ["node": "\(nodeName)"])
        report?(line)
    }

    /// The sentinels promoted `to` in place of `from`: both connections move there (a failover
    /// is an event for the operator, at warning level).
    private func masterSwitched(from: RedisAddress.Endpoint, to: RedisAddress.Endpoint) {
        connection.follow(to)
        subscriber.follow(to)
        warn("Redis failover: the sentinels switched the master from \(from) to \(to)")
    }

    /// Keys got a new master (a failover; with Redis Cluster, a shard's): the node's publishes
    /// wait until the channels it holds there are fenced, as soon as the request connection is
    /// ready (now, when it stayed ready: the old master still answered). An event for the
    /// operator, at warning level.
    private func masterChanged(_ change: ClusterRedis.MasterChange) {
        fencing.store(true, ordering: .relaxed)
        masterChanges.append(change)
        warn("Redis master change: \(change)")
        eventLoop.execute { if self.connection.isUp { self.fenceMasterChanges() } }
    }

    /// With the request connection ready: after master changes, every channel the node
    /// delivered whose keys they moved is fenced — pipelined, one script per channel — and only
    /// then do its own publishes resume.
    private func fenceMasterChanges() {
        let changes = masterChanges
        masterChanges.removeAll()
        guard route.serving, let fence = route.fence, !changes.isEmpty else {
            if fencesRunning == 0 { fencing.store(false, ordering: .relaxed) }
            return
        }
        logger.warning("fencing the channels' numbering on a new Redis master", metadata: ["node": "\(nodeName)", "change": "\(changes)"])
        fencesRunning += 1
        fence { channel in changes.contains { $0.covers(self.sequenceKey(channel)) } }.whenComplete { _ in
            self.fencesRunning -= 1
            if self.fencesRunning == 0, self.masterChanges.isEmpty, self.connection.isUp { self.fencing.store(false, ordering: .relaxed) }
        }
    }

    /// Whether a publish would be sent to Redis right now.
    var isUp: Bool { connection.isUp && !fencing.load(ordering: .relaxed) }

    // MARK: - Names

    /// The channel's sequence key (see ``ClusterKeys``).
    func sequenceKey(_ channel: String) -> ByteBuffer {
        keys.channelKey(channel, "seq")
    }

    /// The channel's pub/sub name (see ``ClusterKeys``).
    func pubSubName(_ channel: String) -> String {
        keys.pubSubName(channel)
    }

    // MARK: - Publishing

    /// Numbers `publication` and publishes it to every node holding its channel; succeeds with
    /// its `seq` once Redis has accepted it. Fails at once with `RedisError.unavailable` while
    /// Redis cannot be reached (nothing is queued), with `RedisError.noReply` when the outcome is
    /// unknown.
    func publish(_ publication: Publication) -> EventLoopFuture<PublishOutcome> {
        guard !fencing.load(ordering: .relaxed) else {
            return eventLoop.makeFailedFuture(RedisError.unavailable("fencing the channels' numbering on a new Redis master"))
        }
        if history.isEnabled, let policy = history.policy(for: publication.channel) { return publish(publication, keeping: policy) }
        guard let envelope = ClusterEnvelope.encode(publication) else {
            return eventLoop.makeFailedFuture(RedisError.reply("only messages are published through Redis"))
        }
        let (keys, arguments) = withIdempotencyKey(
            publication, keys: [sequenceKey(publication.channel)], arguments: [ByteBuffer(string: pubSubName(publication.channel)), envelope])
        return connection.evaluate(Self.publishScript, keys: keys, arguments: arguments, durable: true).flatMapThrowing(Self.outcome)
    }

    /// `keys` and `arguments` of a publish script, with the publication's idempotency key and
    /// its time to live after them when it has one.
    func withIdempotencyKey(_ publication: Publication, keys: [ByteBuffer], arguments: [ByteBuffer]) -> ([ByteBuffer], [ByteBuffer]) {
        guard let key = publication.idempotencyKey else { return (keys, arguments) }
        var keyName = self.keys.channelKey(publication.channel, "idem:")
        keyName.writeString(key)
        return (keys + [keyName], arguments + [Self.milliseconds(idempotencyTTL)])
    }

    /// What a publish script's answer says: a new `seq`, or (negative) the `seq` of the publish
    /// that had the same idempotency key.
    static func outcome(_ reply: RESPValue) throws -> PublishOutcome {
        guard case .integer(let answer) = reply, answer != 0 else { throw RedisError.reply("the publish script returned \(reply)") }
        return PublishOutcome(seq: UInt64(answer.magnitude), duplicate: answer < 0)
    }

    // MARK: - Subscriptions

    /// A shard has its first subscriber of `channel` (`subscriptions` of them); the node's
    /// first tells Redis (occupancy).
    func hold(_ channel: String, subscriptions change: Int) {
        eventLoop.execute {
            self.holders[channel, default: 0] += 1
            self.changeCount(channel, by: change)
            guard self.holders[channel] == 1 else { return }
            self.changeOccupancy(channel, occupied: true).whenFailure { _ in self.unsure() }
            // The epoch the channel is numbered in, for the receiver to tell a fence's from its own.
            self.fence(channel, after: 0, known: nil, backwards: false).whenSuccess { self.route.learned(channel, $0.epoch) }
        }
    }

    /// A shard lost its last subscriber of `channel`; the node unsubscribes when no shard holds it.
    /// `forget` runs (on the link's loop) when the node lets the channel go.
    func release(_ channel: String, subscriptions change: Int, forget: @escaping @Sendable () -> Void) {
        eventLoop.execute {
            self.changeCount(channel, by: change)
            guard let count = self.holders[channel] else { return }
            if count > 1 {
                self.holders[channel] = count - 1
                return
            }
            self.holders.removeValue(forKey: channel)
            self.changeOccupancy(channel, occupied: false).whenFailure { _ in self.unsure() }
            self.unsynced.remove(channel)
            self.trackedPresence.remove(channel)
            self.subscriber.unsubscribe(self.pubSubName(channel))
            forget()
        }
    }

    /// A shard's subscriptions to `channel`, which it still holds, changed by `change`.
    func count(_ channel: String, by change: Int) {
        eventLoop.execute { self.changeCount(channel, by: change) }
    }

    /// Keeps the node's count and tells Redis its new value once per loop tick (every changed
    /// channel in one pipelined batch).
    private func changeCount(_ channel: String, by change: Int) {
        let count = subscriptions[channel, default: 0] + change
        subscriptions[channel] = count > 0 ? count : nil
        if unsentCounts.isEmpty { eventLoop.execute { self.sendCounts() } }
        unsentCounts.insert(channel)
    }

    private func sendCounts() {
        let channels = unsentCounts
        unsentCounts.removeAll()
        for channel in channels {
            setSubscriptions(channel, to: subscriptions[channel] ?? 0).whenFailure { _ in self.unsure() }
        }
    }

    /// Tells Redis again everything the node holds (presence, channels, counts), and removes
    /// what Redis holds for the node that it no longer has; the script announces each change
    /// (quietly when Redis lost its data: the others never saw anything change). Then reads the
    /// members of every presence channel the node tracks, so its subscribers hear the joins and
    /// leaves pub/sub lost meanwhile. One re-assert at a time: one asked for while another runs
    /// follows it.
    func reassert() {
        eventLoop.execute { self.startReassert() }
    }

    private func startReassert() {
        guard route.serving else { return }
        guard !reasserting else {
            reassertAgain = true
            return
        }
        reasserting = true
        needsReassert = false
        reassertTask = Task {
            // Whether Redis lost its data is asked first, in order with what follows.
            let epoch = await nodes.epochForReassert()
            try? await eventLoop.submit {
                guard self.route.serving else { return }
                guard let (epoch, quietly) = epoch else {
                    self.needsReassert = true
                    self.reassertFinished()
                    return
                }
                let channels = self.holders.keys.map { ($0, self.subscriptions[$0] ?? 0) }
                let sent =
                    self.route.presence { self.reassert(presence: $0, channels: channels, quietly: quietly) }
                    ?? self.eventLoop.makeFailedFuture(RedisError.unavailable("the hub is gone"))
                sent.whenComplete { result in
                    switch result {
                    case .success(let changes):
                        self.nodes.registered(under: epoch)
                        if changes > 0 {
                            self.logger.warning(
                                "re-asserted this node's state in Redis", metadata: ["changes": "\(changes)", "quietly": "\(quietly)"])
                        }
                        // After Redis lost its data, the other nodes re-assert theirs over the
                        // next seconds: members read meanwhile would look like leaves.
                        if quietly { self.quietUntil = .now() + Self.settleAfterDataLoss }
                        if NIODeadline.now() >= self.quietUntil { self.resyncPresence() }
                    case .failure:
                        self.needsReassert = true
                    }
                    self.reassertFinished()
                }
            }
        }
    }

    /// Ends the running re-assert; one asked for meanwhile starts now.
    private func reassertFinished() {
        reasserting = false
        if reassertAgain {
            reassertAgain = false
            startReassert()
        }
    }

    /// The channels the node has subscribers for.
    func heldChannels() -> EventLoopFuture<[String]> {
        eventLoop.submit { Array(self.holders.keys) }
    }

    /// Reads each tracked presence channel's members for the receivers to compare.
    private func resyncPresence() {
        for channel in trackedPresence {
            members(of: channel).whenSuccess { self.route.resynced(channel, ($0, announce: true)) }
        }
    }

    /// Re-asserts the node's state when something it told Redis may not have been carried out,
    /// or `always` (the slow periodic beat).
    func reassertIfNeeded(always: Bool) {
        eventLoop.execute {
            if self.needsReassert || always { self.startReassert() }
        }
    }

    /// The members of presence channel `channel`; from now on the node keeps track of them, so
    /// that after a reconnect it can tell its subscribers what changed meanwhile.
    func trackedMembers(of channel: String) -> EventLoopFuture<[PresenceMember]> {
        members(of: channel).map { current in
            if self.holders[channel] != nil, self.trackedPresence.insert(channel).inserted {
                self.route.resynced(channel, (current, announce: false))
            }
            return current
        }
    }

    /// Succeeds once the node keeps track of presence channel `channel`'s members (reading them
    /// only the first time).
    func track(_ channel: String) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            guard !self.trackedPresence.contains(channel) else { return self.eventLoop.makeSucceededVoidFuture() }
            return self.trackedMembers(of: channel).map { _ in }
        }
    }

    /// Succeeds once this node's Redis subscription to `channel` is in place, so a publish
    /// anywhere from then on reaches it; fails at once while the subscriber connection is down.
    func ready(_ channel: String) -> EventLoopFuture<Void> {
        subscriber.subscribe(pubSubName(channel))
    }

    /// After a reconnect, asks Redis where each resubscribed channel's numbering stands (a sync
    /// marker in order with its messages), so a gap is reported even if nothing more is
    /// published. Channels whose check fails stay for the next attempt.
    private func sync() {
        eventLoop.assertInEventLoop()
        guard connection.isUp, !unsynced.isEmpty else { return }
        let channels = unsynced
        unsynced.removeAll()
        for channel in channels {
            ready(channel).flatMap { _ in self.marker(channel) }.whenFailure { _ in
                self.eventLoop.execute {
                    guard self.holders[channel] != nil else { return }
                    self.unsynced.insert(channel)
                }
            }
        }
    }

    /// Publishes `channel`'s sync marker, in order with its messages, so every node holding it
    /// learns where its numbering stands; `failed` runs when Redis did not take it.
    func publishMarker(_ channel: String, failed: @escaping @Sendable () -> Void) {
        marker(channel).whenFailure { _ in failed() }
    }

    private func marker(_ channel: String) -> EventLoopFuture<RESPValue> {
        connection.evaluate(Self.syncScript, keys: [sequenceKey(channel)], arguments: [ByteBuffer(string: pubSubName(channel))])
    }
}
