public import NIOCore
import NIOConcurrencyHelpers
import Synchronization

/// Requests to a Redis Cluster: each command goes to the master serving its key's hash slot.
///
/// It keeps the cluster's slot map (`CLUSTER SLOTS`, asked of any reachable node, else of the
/// address's seeds), refreshed every ``refreshInterval``, after every `MOVED` and whenever a
/// master's connection is lost, and one ``RedisConnection`` per master, made with the caller's
/// configuration (its address replaced by the master's; password, client name and replica
/// acknowledgements carried over), all on one event loop.
///
/// A command is routed by the slot of `parts[1]`, the key of most commands (``send(_:durable:)``),
/// or of a key given apart (``send(_:routedBy:durable:)``); a script by the slot of its first
/// key. Redirections are followed: `MOVED` refreshes the map and resends at once to the new
/// owner; `ASK` sends `ASKING` and the command back to back to the importing master. While a
/// slot has no working master (`CLUSTERDOWN`, `TRYAGAIN`, a master unreachable until its replica
/// is promoted) a request is tried again with a short backoff until its deadline
/// (``RedisConnection/Configuration/requestDeadline``), then fails with
/// ``RedisError/unavailable(_:)`` saying the cluster is down. A request whose reply was lost
/// (``RedisError/noReply(_:)``) is not sent again: it may have been carried out.
///
/// Every ``probeInterval`` each master's ready connection is sent a `PING`, pipelined with the
/// requests of its tick; how long its answer took is the shard's ``ShardStatus/roundTrip``.
public final class RedisClusterClient: RedisRequests, @unchecked Sendable {
    /// One master and the state of the connection to it, for the console and `/api/nodes`.
    public struct ShardStatus: Sendable, Equatable {
        public var address: RedisAddress.Endpoint
        /// Always `master`: commands go to masters only.
        public var role: String
        public var slots: [ClosedRange<Int>]
        public var replicas: [RedisAddress.Endpoint]
        public var connection: RedisConnection.Status
        /// How long the last `PING` on the connection took to be answered (nil before the
        /// first answer, and while the connection is down).
        public var roundTrip: Duration?
    }

    public let configuration: RedisConnection.Configuration
    public let eventLoop: any EventLoop
    /// How often the slot map is asked for when nothing else asks for it.
    public let refreshInterval: Duration
    /// How often each master is sent a `PING` to measure its round trip.
    public let probeInterval: Duration

    /// The map and each shard's connection (in the map's shard order): read by any thread.
    private let routes = NIOLockedValueBox(Routes())
    private let scripts = NIOLockedValueBox<[RedisScript]>([])
    private let readyHandlers = NIOLockedValueBox<[@Sendable () -> Void]>([])
    private let lostHandlers = NIOLockedValueBox<[@Sendable (String) -> Void]>([])
    private let masterChangeHandlers = NIOLockedValueBox<[@Sendable ([RedisClusterMap.MasterChange]) -> Void]>([])
    private let migrationHandlers = NIOLockedValueBox<[@Sendable ([RedisClusterMap.MasterChange]) -> Void]>([])
    private let up = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Requests waiting for their next attempt.
    private let retrying = Atomic<Int>(0)
    private let redirectCount = Atomic<Int>(0)
    /// Why no node gave the slot map the last time it was asked for, if none did.
    private let mapError = NIOLockedValueBox<String?>("no slot map yet")
    /// Each master's last `PING` round trip.
    private let roundTrips = NIOLockedValueBox<[RedisAddress.Endpoint: Duration]>([:])

    // Loop-confined.
    private let reader: RedisClusterMapReader
    /// Every connection by its master's address (masters of the map, and `ASK`/`MOVED` targets
    /// until the next map).
    private var connections: [RedisAddress.Endpoint: RedisConnection] = [:]
    private var probe: RepeatedTask?
    /// The last map that had a master for every slot: what master changes are told against.
    private var coveringMap: RedisClusterMap?

    struct Routes {
        var map: RedisClusterMap?
        var connections: [RedisConnection] = []
    }

    public init(
        configuration: RedisConnection.Configuration, eventLoop: any EventLoop, refreshInterval: Duration = .seconds(5),
        probeInterval: Duration = .seconds(1)
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.refreshInterval = refreshInterval
        self.probeInterval = probeInterval
        self.reader = RedisClusterMapReader(address: configuration.address, eventLoop: eventLoop)
        reader.onMap = { [weak self] map in self?.follow(map) }
        reader.isHealthy = { [weak self] in self?.isUp ?? true }
        reader.onFailure = { [weak self] why in self?.mapError.withLockedValue { $0 = why } }
        reader.readyConnection = { [weak self] endpoint in self?.connections[endpoint].flatMap { $0.isUp ? $0 : nil } }
    }

    /// Asks for the slot map and connects to every master.
    public func start() {
        eventLoop.execute {
            self.reader.start(every: self.refreshInterval)
            self.probe = self.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: TimeAmount(self.probeInterval)) { [weak self] _ in
                self?.measureRoundTrips()
            }
        }
    }

    /// Closes every connection for good; pending requests fail.
    public func stop() async {
        stopped.store(true, ordering: .relaxed)
        let connections = try? await eventLoop.submit {
            self.reader.stop()
            self.probe?.cancel()
            defer { self.connections.removeAll() }
            self.routes.withLockedValue { $0 = Routes() }
            self.updateUp(why: "the client was stopped")
            return Array(self.connections.values)
        }.get()
        for connection in connections ?? [] { await connection.stop() }
    }

    /// Whether every slot has a master and every master's connection is ready.
    public var isUp: Bool { up.load(ordering: .relaxed) }

    /// Requests sent and not yet answered on every master, plus those waiting to be tried again.
    public var pending: Int {
        routes.withLockedValue { $0.connections }.reduce(retrying.load(ordering: .relaxed)) { $0 + $1.pending }
    }

    /// `MOVED` and `ASK` redirections followed so far.
    public var redirects: Int { redirectCount.load(ordering: .relaxed) }

    /// Why the slot map could not be read the last time it was asked for, if it could not.
    public var lastError: String? { mapError.withLockedValue { $0 } }

    /// Each master of the current map, with its connection's state.
    public var shards: [ShardStatus] {
        let routes = routes.withLockedValue { $0 }
        let roundTrips = roundTrips.withLockedValue { $0 }
        guard let map = routes.map else { return [] }
        return zip(map.shards, routes.connections).map { shard, connection in
            let status = connection.status
            return ShardStatus(
                address: shard.master.endpoint, role: "master", slots: shard.slots, replicas: shard.replicas.map(\.endpoint),
                connection: status, roundTrip: status.isUp ? roundTrips[shard.master.endpoint] : nil)
        }
    }

    /// The current slot map, once read.
    public var slotMap: RedisClusterMap? { routes.withLockedValue { $0.map } }

    /// Loads `script` on every master's connection, those made later too.
    public func register(_ script: RedisScript) {
        scripts.withLockedValue { $0.append(script) }
        eventLoop.execute {
            for connection in self.connections.values { connection.register(script) }
        }
    }

    /// Calls `handler` on the loop each time the client becomes up: a map covering every slot,
    /// and every master's connection ready (after a lost master, a failover, a new map).
    public func onReady(_ handler: @escaping @Sendable () -> Void) {
        readyHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the loop each time the client stops being up, with why.
    public func onLost(_ handler: @escaping @Sendable (String) -> Void) {
        lostHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the loop each time a map shows slots served by a server that was no
    /// master in the last map covering every slot (a replica promoted by a failover), with those
    /// slots; before the ready handlers that follow. A slot migrated to another master is no
    /// master change (``RedisClusterMap/masterChanges(since:)``).
    public func onMasterChange(_ handler: @escaping @Sendable ([RedisClusterMap.MasterChange]) -> Void) {
        masterChangeHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the loop each time slots migrated from one master to another (a
    /// resharding), as the slot map shows it.
    public func onMigration(_ handler: @escaping @Sendable ([RedisClusterMap.MasterChange]) -> Void) {
        migrationHandlers.withLockedValue { $0.append(handler) }
    }

    // MARK: - Requests

    /// Sends one command to the master serving the slot of `parts[1]` (the key of `GET`, `SET`,
    /// `HSET`, `XADD`, … and the channel of `SPUBLISH`); a command with no argument goes to any
    /// master.
    public func send(_ parts: [ByteBuffer], durable: Bool = false) -> EventLoopFuture<RESPValue> {
        let slot = parts.count > 1 ? Self.slot(of: parts[1]) : nil
        return route(slot: slot, deadline: deadline()) { connection, asking in
            connection.send(parts, durable: durable, asking: asking)
        }
    }

    /// Sends one command to the master serving the slot of `key`, for commands whose key is not
    /// their second part.
    public func send(_ parts: [ByteBuffer], routedBy key: ByteBuffer, durable: Bool = false) -> EventLoopFuture<RESPValue> {
        route(slot: Self.slot(of: key), deadline: deadline()) { connection, asking in
            connection.send(parts, durable: durable, asking: asking)
        }
    }

    /// Runs `script` on the master serving the slot of `keys[0]` (every key of a script must be
    /// in that slot: give them one hash tag); a script without keys runs on any master.
    public func evaluate(_ script: RedisScript, keys: [ByteBuffer], arguments: [ByteBuffer], durable: Bool = false) -> EventLoopFuture<RESPValue> {
        route(slot: keys.first.map(Self.slot(of:)), deadline: deadline()) { connection, asking in
            connection.evaluate(script, keys: keys, arguments: arguments, durable: durable, asking: asking)
        }
    }

    /// The slot of a key's bytes.
    static func slot(of key: ByteBuffer) -> Int {
        key.withUnsafeReadableBytes { RedisSlot.of($0) }
    }

    private func deadline() -> NIODeadline {
        .now() + TimeAmount(configuration.requestDeadline)
    }

    /// One attempt of a command: on which connection, and whether `ASKING` precedes it.
    typealias Attempt = @Sendable (_ connection: RedisConnection, _ asking: Bool) -> EventLoopFuture<RESPValue>

    /// Sends to the slot's master as the map has it (any master when `slot` is nil).
    private func route(slot: Int?, deadline: NIODeadline, attempt: Int = 0, _ command: @escaping Attempt) -> EventLoopFuture<RESPValue> {
        guard !stopped.load(ordering: .relaxed) else { return eventLoop.makeFailedFuture(RedisError.unavailable("the client was stopped")) }
        let connection = routes.withLockedValue { routes -> RedisConnection? in
            guard let slot else { return routes.connections.first { $0.isUp } ?? routes.connections.first }
            return routes.map?.shardIndex(ofSlot: slot).map { routes.connections[$0] }
        }
        guard let connection else {
            return eventLoop.flatSubmit {
                self.retry(slot: slot, deadline: deadline, attempt: attempt, command, why: "no master is known for slot \(slot ?? 0)")
            }
        }
        return command(connection, false).flatMapError { error in
            self.recover(from: error, slot: slot, deadline: deadline, attempt: attempt, command)
        }
    }

    /// Follows a redirection, or tries again later when the cluster cannot serve the slot now
    /// (on the loop).
    private func recover(from error: any Error, slot: Int?, deadline: NIODeadline, attempt: Int, _ command: @escaping Attempt)
        -> EventLoopFuture<RESPValue>
    {
        guard let error = error as? RedisError else { return eventLoop.makeFailedFuture(error) }
        let redirect = error.clusterRedirect
        switch (error, redirect) {
        case (.unavailable(let why), _):
            reader.refreshSoon()
            return retry(slot: slot, deadline: deadline, attempt: attempt, command, why: why)
        case (_, .moved(_, let target)?) where attempt < 3:
            redirectCount.wrappingAdd(1, ordering: .relaxed)
            reader.refresh()
            return command(connection(to: target), false).flatMapError { error in
                self.recover(from: error, slot: slot, deadline: deadline, attempt: attempt + 1, command)
            }
        case (_, .ask(_, let target)?) where attempt < 3:
            redirectCount.wrappingAdd(1, ordering: .relaxed)
            return command(connection(to: target), true).flatMapError { error in
                self.recover(from: error, slot: slot, deadline: deadline, attempt: attempt + 1, command)
            }
        case (_, .moved?), (_, .ask?), (_, .clusterDown?), (_, .tryAgain?):
            reader.refreshSoon()
            return retry(slot: slot, deadline: deadline, attempt: attempt, command, why: "\(error)")
        default:
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends again after a short backoff (20 ms doubling to 250 ms) if the deadline allows it.
    private func retry(slot: Int?, deadline: NIODeadline, attempt: Int, _ command: @escaping Attempt, why: String) -> EventLoopFuture<RESPValue> {
        let delay = TimeAmount.milliseconds(min(250, 20 << min(attempt, 4)))
        guard NIODeadline.now() + delay < deadline, !stopped.load(ordering: .relaxed) else {
            return eventLoop.makeFailedFuture(RedisError.unavailable("the Redis Cluster is down: \(why)"))
        }
        retrying.wrappingAdd(1, ordering: .relaxed)
        return eventLoop.flatScheduleTask(in: delay) {
            self.retrying.wrappingSubtract(1, ordering: .relaxed)
            return self.route(slot: slot, deadline: deadline, attempt: attempt + 1, command)
        }.futureResult
    }

    /// The connection to the master at `endpoint`, made now if there is none (on the loop).
    private func connection(to endpoint: RedisAddress.Endpoint) -> RedisConnection {
        if let known = connections[endpoint] { return known }
        let connection = RedisConnection(configuration: configuration.forMaster(at: endpoint), eventLoop: eventLoop)
        for script in scripts.withLockedValue({ $0 }) { connection.register(script) }
        connection.onReady { [weak self] in self?.updateUp(why: "") }
        connection.onLost { [weak self] why in
            self?.updateUp(why: "lost the connection to the master \(endpoint): \(why)")
            self?.reader.refresh()
        }
        connections[endpoint] = connection
        connection.start()
        return connection
    }

    /// Calls the ready or lost handlers when being up changed (on the loop).
    private func updateUp(why: String) {
        let nowUp =
            !stopped.load(ordering: .relaxed) && reader.map?.coversEverySlot == true
            && routes.withLockedValue { $0.connections.allSatisfy(\.isUp) }
        guard up.exchange(nowUp, ordering: .relaxed) != nowUp else { return }
        if nowUp {
            for handler in readyHandlers.withLockedValue({ $0 }) { handler() }
        } else {
            let why = why.isEmpty ? "the slot map changed" : why
            for handler in lostHandlers.withLockedValue({ $0 }) { handler(why) }
        }
    }

    /// Sends each master's ready connection a `PING` and keeps how long its answer took (on the
    /// loop).
    private func measureRoundTrips() {
        for (endpoint, connection) in routes.withLockedValue({ zip($0.map?.masters ?? [], $0.connections) }) where connection.isUp {
            let sent = ContinuousClock.now
            connection.send([Self.ping]).whenSuccess { _ in
                let elapsed = ContinuousClock.now - sent
                self.roundTrips.withLockedValue { $0[endpoint] = elapsed }
            }
        }
    }

    private static let ping = ByteBuffer(string: "PING")

    /// Follows a new map: connections for its masters, none for other servers (on the loop).
    private func follow(_ map: RedisClusterMap) {
        mapError.withLockedValue { $0 = nil }
        let shardConnections = map.masters.map { connection(to: $0) }
        routes.withLockedValue { $0 = Routes(map: map, connections: shardConnections) }
        let masters = Set(map.masters)
        for (endpoint, connection) in connections where !masters.contains(endpoint) {
            connections[endpoint] = nil
            Task { await connection.stop() }
        }
        roundTrips.withLockedValue { $0 = $0.filter { masters.contains($0.key) } }
        if map.coversEverySlot {
            let changes = coveringMap.map { map.masterChanges(since: $0) } ?? []
            let migrations = coveringMap.map { map.migrations(since: $0) } ?? []
            coveringMap = map
            if !changes.isEmpty {
                for handler in masterChangeHandlers.withLockedValue({ $0 }) { handler(changes) }
            }
            if !migrations.isEmpty {
                for handler in migrationHandlers.withLockedValue({ $0 }) { handler(migrations) }
            }
        }
        updateUp(why: "the slot map changed")
    }
}

extension RedisConnection.Configuration {
    /// This configuration for one master of the cluster it names: its address replaced by the
    /// master's, with the same credentials.
    func forMaster(at master: RedisAddress.Endpoint) -> Self {
        var configuration = self
        configuration.address = RedisAddress(host: master.host, port: master.port, username: address.username, password: address.password)
        return configuration
    }
}
