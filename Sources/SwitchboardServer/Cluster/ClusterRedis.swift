import NIOCore
import RedisClient
import NIOConcurrencyHelpers

/// A script of the cluster in both forms: as written, publishing with `PUBLISH` (one Redis
/// server, or Sentinel's master), and sharded, publishing with `SPUBLISH` (Redis Cluster, where
/// a message goes only to the shard that owns its channel's slot, and a script may publish only
/// to its own slot: which ``ClusterKeys`` guarantees).
struct ClusterScript: Sendable {
    let plain: RedisScript
    let sharded: RedisScript

    init(_ source: String) {
        plain = RedisScript(source)
        sharded = RedisScript(source.replacing("redis.call('PUBLISH', ", with: "redis.call('SPUBLISH', "))
    }
}

/// The cluster's Redis as the engine talks to it, whatever its topology: one server or the master
/// Sentinel names (one pipelined ``RedisConnection``), or a Redis Cluster (a
/// ``RedisClusterClient``: a connection per master, each command routed by its key's slot),
/// where pub/sub is sharded. The engine's code is the same for all of them.
final class ClusterRedis: Sendable {
    /// How requests reach Redis.
    enum Requests: Sendable {
        case server(RedisConnection)
        case cluster(RedisClusterClient)
    }

    let requests: Requests
    private let redis: any RedisRequests
    private let masterChangeHandlers = NIOLockedValueBox<[@Sendable (MasterChange) -> Void]>([])

    /// Connects to `configuration.address`: a Redis Cluster when it is one (`redis+cluster://`).
    init(configuration: RedisConnection.Configuration, eventLoop: any EventLoop) {
        if configuration.address.usesCluster {
            let client = RedisClusterClient(configuration: configuration, eventLoop: eventLoop)
            requests = .cluster(client)
            redis = client
            client.onMasterChange { [masterChangeHandlers] changes in
                let change = MasterChange(keys: .slots(changes.flatMap(\.slots)), description: changes.map(\.description).joined(separator: "; "))
                for handler in masterChangeHandlers.withLockedValue({ $0 }) { handler(change) }
            }
        } else {
            let connection = RedisConnection(configuration: configuration, eventLoop: eventLoop)
            requests = .server(connection)
            redis = connection
            // A connection ready on another server than before: every key has a new master. (This
            // handler is the connection's first, so it runs before the engine's own.)
            let lastServer = NIOLockedValueBox<RedisAddress.Endpoint?>(nil)
            connection.onReady { [weak connection, masterChangeHandlers] in
                guard let server = connection?.status.server else { return }
                let previous = lastServer.withLockedValue { last in
                    defer { last = server }
                    return last
                }
                guard let previous, previous != server else { return }
                let change = MasterChange(keys: .all, description: "from \(previous) to \(server)")
                for handler in masterChangeHandlers.withLockedValue({ $0 }) { handler(change) }
            }
        }
    }

    /// A change of the master behind some keys (a failover): the new master may stand behind
    /// what the nodes already delivered of those keys' channels (ClusterFence.swift).
    struct MasterChange: Sendable, CustomStringConvertible {
        /// Which keys have a new master.
        enum Keys: Sendable {
            /// Every key: one server or Sentinel's master, now another server.
            case all
            /// The keys of these slots: a Redis Cluster's replica promoted in place of their master.
            case slots([ClosedRange<Int>])
        }

        let keys: Keys
        /// Which master was replaced by which, for the log.
        let description: String

        /// Whether `key` has a new master.
        func covers(_ key: ByteBuffer) -> Bool {
            switch keys {
            case .all: return true
            case .slots(let ranges):
                let slot = key.withUnsafeReadableBytes { RedisSlot.of($0) }
                return ranges.contains { $0.contains(slot) }
            }
        }
    }

    /// Calls `handler` on the loop each time keys get a new master (see ``MasterChange``), before
    /// the ready handlers that follow it.
    func onMasterChange(_ handler: @escaping @Sendable (MasterChange) -> Void) {
        masterChangeHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the loop each time a Redis Cluster's slots migrated from one master to
    /// another (a resharding), with which; never for one server or Sentinel.
    func onResharding(_ handler: @escaping @Sendable (String) -> Void) {
        guard case .cluster(let client) = requests else { return }
        client.onMigration { migrations in handler(migrations.map(\.description).joined(separator: "; ")) }
    }

    /// Whether pub/sub is sharded (Redis Cluster): `SPUBLISH`, `SSUBSCRIBE`.
    var sharded: Bool {
        if case .cluster = requests { true } else { false }
    }

    var eventLoop: any EventLoop { redis.eventLoop }
    var isUp: Bool { redis.isUp }
    var pending: Int { redis.pending }

    func start() { redis.start() }
    func stop() async { await redis.stop() }
    func onReady(_ handler: @escaping @Sendable () -> Void) { redis.onReady(handler) }
    func onLost(_ handler: @escaping @Sendable (String) -> Void) { redis.onLost(handler) }

    /// Loads `script` in the form this topology runs.
    func register(_ script: ClusterScript) {
        redis.register(sharded ? script.sharded : script.plain)
    }

    func evaluate(_ script: ClusterScript, keys: [ByteBuffer], arguments: [ByteBuffer], durable: Bool = false) -> EventLoopFuture<RESPValue> {
        redis.evaluate(sharded ? script.sharded : script.plain, keys: keys, arguments: arguments, durable: durable)
    }

    /// Runs `script`, which touches the keys of names (channels, nodes) it finds in Redis
    /// (``ClusterKeys/declaredNamesLua(after:width:pattern:)``): declares `keys`, then each of
    /// `names`' keys (`keysOf`), and while the script answers that it found names it was not given
    /// (having changed nothing: they came after the caller last looked), runs it again with those
    /// too, up to `rounds` times.
    func evaluate(
        _ script: ClusterScript, keys: [ByteBuffer], declaring names: Set<String>, keysOf: @escaping @Sendable (String) -> [ByteBuffer],
        arguments: [ByteBuffer], rounds: Int = 5
    ) -> EventLoopFuture<RESPValue> {
        evaluate(script, keys: keys + names.sorted().flatMap(keysOf), arguments: arguments).flatMap { reply in
            guard let parts = reply.elements, parts.first?.string == ClusterKeys.undeclaredMark else {
                return self.eventLoop.makeSucceededFuture(reply)
            }
            guard rounds > 1 else {
                return self.eventLoop.makeFailedFuture(RedisError.reply("a script kept finding names it was not given: \(parts.dropFirst())"))
            }
            return self.evaluate(
                script, keys: keys, declaring: names.union(parts.dropFirst().compactMap(\.string)), keysOf: keysOf, arguments: arguments,
                rounds: rounds - 1)
        }
    }

    /// One command; with Redis Cluster, routed by the slot of its first argument (the key).
    func send(_ parts: [ByteBuffer], durable: Bool = false) -> EventLoopFuture<RESPValue> {
        redis.send(parts, durable: durable)
    }

    /// One command whose key is not its first argument (`XREADGROUP … STREAMS key`, `XGROUP
    /// CREATE key …`): with Redis Cluster, routed by `key`'s slot.
    func send(_ parts: [ByteBuffer], routedBy key: ByteBuffer) -> EventLoopFuture<RESPValue> {
        switch requests {
        case .server(let connection): connection.send(parts)
        case .cluster(let client): client.send(parts, routedBy: key)
        }
    }

    func send(_ parts: String...) -> EventLoopFuture<RESPValue> {
        redis.send(parts.map { ByteBuffer(string: $0) }, durable: false)
    }

    /// Publishes `payload` to the pub/sub name `name` (sharded with Redis Cluster).
    func publish(_ name: ByteBuffer, _ payload: ByteBuffer) -> EventLoopFuture<RESPValue> {
        redis.send([ByteBuffer(string: sharded ? "SPUBLISH" : "PUBLISH"), name, payload], durable: false)
    }

    /// With Sentinel: the sentinels promoted `master`; requests move there.
    func follow(_ master: RedisAddress.Endpoint) {
        if case .server(let connection) = requests { connection.follow(master) }
    }

    /// With Redis Cluster: each master, with the state of the request connection to it and of
    /// `subscriber`'s; empty otherwise.
    func shards(subscriber: ClusterSubscriber) -> [NodeReport.ShardFigures] {
        guard case .cluster(let client) = requests else { return [] }
        let subscribersUp = subscriber.mastersUp
        return client.shards.map { shard in
            NodeReport.ShardFigures(
                address: shard.address, slots: shard.slots.reduce(0) { $0 + $1.count }, replicas: shard.replicas, up: shard.connection.isUp,
                pending: shard.connection.pending, reconnects: shard.connection.reconnects, lastError: shard.connection.lastError,
                roundTrip: shard.roundTrip, subscriberUp: subscribersUp[shard.address] ?? false)
        }
    }

    /// The request connection's state (with Redis Cluster: up while every master is reachable,
    /// with the first master's server, and the pending requests and reconnects of all of them).
    var status: RedisConnection.Status {
        switch requests {
        case .server(let connection):
            return connection.status
        case .cluster(let client):
            let shards = client.shards
            return RedisConnection.Status(
                isUp: client.isUp, pending: client.pending, reconnects: shards.reduce(0) { $0 + $1.connection.reconnects },
                lastError: client.lastError ?? shards.compactMap(\.connection.lastError).first, server: shards.first?.address)
        }
    }
}

/// The node's pub/sub connection(s), whatever the topology: one ``RedisSubscriber`` (`SUBSCRIBE`)
/// on one server or Sentinel's master, or a ``RedisShardedSubscriber`` (`SSUBSCRIBE`, a
/// connection per master, each channel on the shard that owns its slot, moved when the slot
/// moves) on a Redis Cluster. Either resubscribes by itself after a reconnect and says which
/// channels it subscribed again, so the node can look for what it missed.
final class ClusterSubscriber: Sendable {
    enum Connections: Sendable {
        case server(RedisSubscriber)
        case cluster(RedisShardedSubscriber)
    }

    let connections: Connections

    init(configuration: RedisConnection.Configuration, eventLoop: any EventLoop, onMessage: @escaping RedisSubscriber.MessageHandler) {
        connections =
            configuration.address.usesCluster
            ? .cluster(RedisShardedSubscriber(configuration: configuration, eventLoop: eventLoop, onMessage: onMessage))
            : .server(RedisSubscriber(configuration: configuration, eventLoop: eventLoop, onMessage: onMessage))
    }

    func start() {
        switch connections {
        case .server(let subscriber): subscriber.start()
        case .cluster(let subscriber): subscriber.start()
        }
    }

    func stop() async {
        switch connections {
        case .server(let subscriber): await subscriber.stop()
        case .cluster(let subscriber): await subscriber.stop()
        }
    }

    /// Whether every subscriber connection is up.
    var isUp: Bool {
        switch connections {
        case .server(let subscriber): subscriber.isUp
        case .cluster(let subscriber): subscriber.isUp
        }
    }

    /// With Redis Cluster: whether the subscriber connection to each master is up, by its
    /// address; empty otherwise.
    var mastersUp: [RedisAddress.Endpoint: Bool] {
        if case .cluster(let subscriber) = connections { subscriber.mastersUp } else { [:] }
    }

    /// Calls `handler` with the pub/sub names subscribed again after a connection came back (or,
    /// with Redis Cluster, after their slot moved to another shard).
    func onResubscribe(_ handler: @escaping @Sendable ([String]) -> Void) {
        switch connections {
        case .server(let subscriber): subscriber.onResubscribe(handler)
        case .cluster(let subscriber): subscriber.onResubscribe(handler)
        }
    }

    func onUpDown(_ handler: @escaping @Sendable (Bool) -> Void) {
        switch connections {
        case .server(let subscriber): subscriber.onUpDown(handler)
        case .cluster(let subscriber): subscriber.onUpDown(handler)
        }
    }

    /// Succeeds once `name` is subscribed; fails at once while its connection is down.
    func subscribe(_ name: String) -> EventLoopFuture<Void> {
        switch connections {
        case .server(let subscriber): subscriber.subscribe(name)
        case .cluster(let subscriber): subscriber.subscribe(name)
        }
    }

    /// Subscribes `name` for good, now or once connected.
    func keep(_ name: String) {
        switch connections {
        case .server(let subscriber): subscriber.keep(name)
        case .cluster(let subscriber): subscriber.keep(name)
        }
    }

    func unsubscribe(_ name: String) {
        switch connections {
        case .server(let subscriber): subscriber.unsubscribe(name)
        case .cluster(let subscriber): subscriber.unsubscribe(name)
        }
    }

    /// With Sentinel: the sentinels promoted `master`; the subscriber moves there.
    func follow(_ master: RedisAddress.Endpoint) {
        if case .server(let subscriber) = connections { subscriber.follow(master) }
    }
}
