import Logging
import NIOCore
import RedisClient
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
    /// Which channels keep history (in Redis streams, see ClusterHistory.swift).
    let history: HistorySettings
    /// The epoch a channel's history gets if Redis has none for it, one per history script call.
    let epochs = EpochSource()
    let nodeName: String
    let eventLoop: any EventLoop
    let connection: RedisConnection
    let subscriber: RedisSubscriber
    /// The cluster's nodes, with this one's heartbeat.
    let nodes: NodeRegistry
    private let logger: Logger
    /// Where the subscriber connection's messages go; set once in ``start(deliver:)``, before
    /// the connection exists, and read on the loop only.
    private let route = Route()

    private final class Route: @unchecked Sendable {
        var deliver: (String, ClusterEnvelope.Delivery) -> Void = { _, _ in }
        /// A channel became occupied (true) or vacated cluster-wide, by this node's doing.
        var occupancy: (String, Bool) -> Void = { _, _ in }
        /// A request or answer on the node's own channels.
        var command: (ByteBuffer) -> Void = { _ in }
    }

    // Loop-confined.
    /// Shards with subscribers, per channel: the node subscribes while it is above zero.
    private var holders: [String: Int] = [:]
    /// Channels subscribed again after a reconnect whose numbering has not been checked yet.
    private var unsynced = Set<String>()
    /// Questions to other nodes waiting for their answers, by request id.
    var asks: [UInt64: Ask] = [:]
    var nextAsk: UInt64 = 0

    /// `KEYS[1]` the channel's sequence, `ARGV[1]` its pub/sub name, `ARGV[2]` the envelope.
    static let publishScript = RedisScript(
        """
        local seq = redis.call('INCR', KEYS[1])
        redis.call('PUBLISH', ARGV[1], seq .. '\\n' .. ARGV[2])
        return seq
        """)
    /// Publishes the channel's current number with no message (a sync marker), in order with its
    /// messages, so every node holding the channel learns where numbering stands.
    static let syncScript = RedisScript(
        """
        local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
        redis.call('PUBLISH', ARGV[1], seq .. '\\n')
        return seq
        """)

    init(
        configuration: ClusterConfiguration, history: HistorySettings, address: RedisAddress, nodeName: String, eventLoop: any EventLoop,
        logger: Logger
    ) {
        self.configuration = configuration
        self.history = history
        self.nodeName = nodeName
        self.eventLoop = eventLoop
        self.logger = logger
        let clientName = "switchboard-" + String(nodeName.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" })
        let redis = RedisConnection.Configuration(address: address, requestDeadline: configuration.requestDeadline, clientName: clientName)
        connection = RedisConnection(configuration: redis, eventLoop: eventLoop)
        connection.register(Self.publishScript)
        connection.register(Self.syncScript)
        for script in Self.presenceScripts { connection.register(script) }
        connection.register(Self.publishKeepingScript)
        connection.register(Self.historyScript)
        nodes = NodeRegistry(
            connection: connection, nodeName: nodeName, prefix: configuration.prefix, keyLifetime: configuration.keyLifetime, logger: logger)
        let route = self.route
        let prefix = configuration.prefix
        subscriber = RedisSubscriber(
            configuration: RedisConnection.Configuration(
                address: address, requestDeadline: configuration.requestDeadline, clientName: clientName + "-sub"),
            eventLoop: eventLoop
        ) { [commandPrefix = Array((prefix + ":@").utf8)] name, payload in
            if name.readableBytesView.starts(with: commandPrefix) {
                return route.command(payload)
            }
            guard let delivery = ClusterEnvelope.decode(payload), let channel = Self.channel(ofPubSubName: name, prefix: prefix) else { return }
            route.deliver(channel, delivery)
        }
        subscriber.onResubscribe { [weak self] channels in
            guard let self else { return }
            self.unsynced.formUnion(channels.compactMap { Self.channel(ofPubSubName: ByteBuffer(string: $0), prefix: prefix) })
            self.sync()
        }
        connection.onReady { [weak self] in
            guard let self else { return }
            self.logger.info("redis link up", metadata: ["redis": "\(address)", "node": "\(nodeName)"])
            self.sync()
        }
    }

    /// Connects both Redis connections; from now on each message of a channel the node holds
    /// goes to `deliver` (a late one, after the node let the channel go, is dropped).
    func start(
        deliver: @escaping Deliver, occupancy: @escaping @Sendable (_ channel: String, _ occupied: Bool) -> Void,
        perform: @escaping @Sendable (NodeCommand) async -> (Int?, [UInt8])
    ) {
        route.occupancy = occupancy
        route.command = { [weak self] payload in self?.receiveCommand(payload, perform: perform) }
        subscriber.keep(busName)
        subscriber.keep(directName(nodeName))
        route.deliver = { [weak self] channel, delivery in
            guard let self, self.holders[channel] != nil else { return }
            deliver(channel, delivery)
        }
        connection.start()
        subscriber.start()
    }

    func stop() async {
        await subscriber.stop()
        await connection.stop()
    }

    /// Whether a publish would be sent to Redis right now.
    var isUp: Bool { connection.isUp }

    // MARK: - Names

    /// `<prefix>:{<channel>}:seq`: the hash tag keeps a channel's keys on one slot.
    func sequenceKey(_ channel: String) -> ByteBuffer {
        ByteBuffer(string: "\(configuration.prefix):{\(channel)}:seq")
    }

    /// `<prefix>:{<channel>}`. Pub/sub names are not per database in Redis, so nodes on other
    /// databases of one server must use other prefixes.
    func pubSubName(_ channel: String) -> String {
        "\(configuration.prefix):{\(channel)}"
    }

    static func channel(ofPubSubName name: ByteBuffer, prefix: String) -> String? {
        guard let text = name.getString(at: name.readerIndex, length: name.readableBytes), text.hasPrefix(prefix + ":{"), text.hasSuffix("}")
        else { return nil }
        return String(text.dropFirst(prefix.utf8.count + 2).dropLast())
    }

    // MARK: - Publishing

    /// Numbers `publication` and publishes it to every node holding its channel; succeeds with
    /// its `seq` once Redis has accepted it. Fails at once with `RedisError.unavailable` while
    /// Redis cannot be reached (nothing is queued), with `RedisError.noReply` when the outcome is
    /// unknown.
    func publish(_ publication: Publication) -> EventLoopFuture<UInt64> {
        if history.isEnabled, let policy = history.policy(for: publication.channel) { return publish(publication, keeping: policy) }
        guard let envelope = ClusterEnvelope.encode(publication) else {
            return eventLoop.makeFailedFuture(RedisError.reply("only messages are published through Redis"))
        }
        let name = ByteBuffer(string: pubSubName(publication.channel))
        return connection.evaluate(Self.publishScript, keys: [sequenceKey(publication.channel)], arguments: [name, envelope]).flatMapThrowing {
            reply in
            guard case .integer(let seq) = reply, seq > 0 else { throw RedisError.reply("the publish script returned \(reply)") }
            return UInt64(seq)
        }
    }

    // MARK: - Subscriptions

    /// A shard has its first subscriber of `channel`; the node's first tells Redis (occupancy).
    func hold(_ channel: String) {
        eventLoop.execute {
            self.holders[channel, default: 0] += 1
            guard self.holders[channel] == 1 else { return }
            self.changeOccupancy(channel, occupied: true).whenSuccess { if $0 { self.route.occupancy(channel, true) } }
        }
    }

    /// A shard lost its last subscriber of `channel`; the node unsubscribes when no shard holds it.
    /// `forget` runs (on the link's loop) when the node lets the channel go.
    func release(_ channel: String, forget: @escaping @Sendable () -> Void) {
        eventLoop.execute {
            guard let count = self.holders[channel] else { return }
            if count > 1 {
                self.holders[channel] = count - 1
                return
            }
            self.holders.removeValue(forKey: channel)
            self.changeOccupancy(channel, occupied: false).whenSuccess { if $0 { self.route.occupancy(channel, false) } }
            self.unsynced.remove(channel)
            self.subscriber.unsubscribe(self.pubSubName(channel))
            forget()
        }
    }

    /// Marks every channel the node holds occupied again (its entry vanished from Redis);
    /// announced unless `quietly`.
    func occupyAgain(quietly: Bool) {
        eventLoop.execute {
            for channel in self.holders.keys {
                self.changeOccupancy(channel, occupied: true).whenSuccess { if $0 && !quietly { self.route.occupancy(channel, true) } }
            }
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
