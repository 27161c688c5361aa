import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import SwitchboardCore
import Synchronization

/// The cluster's nodes, as data in Redis: each node beats its entry (a score of Redis's clock in
/// a sorted set, its report in a hash) about every second; a node silent for ``deadAfter`` is
/// declared dead by whichever surviving node sweeps first (one script, so exactly one), and its
/// entry is removed; then its part of presence and occupancy is undone, one partition at a time,
/// by whichever nodes sweep (each change by exactly one). The keys expire on their own when every
/// node is gone.
///
/// A node whose entry vanished while it was beating (it was declared dead while paused, or
/// Redis came back empty) is fenced: it takes a new incarnation and joins again, rather than
/// going on as if nothing happened.
final class NodeRegistry: Sendable {
    /// How long a node may stay silent before it is declared dead.
    static let deadAfter = Duration.seconds(5)
    let connection: ClusterRedis
    let nodeName: String
    let keys: ClusterKeys
    /// How long the registry's keys outlive the last node's heartbeat.
    let keyLifetime: Duration
    private let logger: Logger
    private let incarnation = NIOLockedValueBox(NodeRegistry.newIncarnation())
    private let joined = Atomic<Bool>(false)
    /// The cluster's epoch as this node's last heartbeat saw it.
    private let knownEpoch = NIOLockedValueBox<String?>(nil)
    /// The cluster's epoch under which Redis is known to hold this node's state: the epoch of
    /// its first heartbeat, then of each re-assert that went through. Redis showing another one
    /// means it lost its data since (a restart without persistence). Only a re-assert that went
    /// through moves it, so a check whose re-assert failed is asked again, with the same answer.
    private let registeredEpoch = NIOLockedValueBox<String?>(nil)
    /// Nodes this node's sweeps declared dead.
    let declaredDead = Atomic<Int>(0)
    /// Microseconds of the last heartbeat's round trip; -1 before the first.
    private let roundTrip = Atomic<Int>(-1)
    /// The Redis server's role and replicas, as the last heartbeat read them.
    private let lastReplication = NIOLockedValueBox<ReplicationInfo?>(nil)
    /// Redis's clock minus this node's, in milliseconds, as the last heartbeat measured it.
    private let clockOffset = Atomic<Int>(0)

    /// This node's wall clock in milliseconds since 1970.
    static func wallMilliseconds() -> Int {
        Int((Date().timeIntervalSince1970 * 1000).rounded())
    }

    /// Now by Redis's clock (milliseconds since 1970), as well as the heartbeats can tell.
    var redisMilliseconds: Int { Self.wallMilliseconds() + clockOffset.load(ordering: .relaxed) }

    /// Whether the sweep announces the dead node's leaves and vacated channels to the cluster's
    /// webhook stream.
    let announcesWebhooks: Bool

    /// Loads the registry's scripts on `connection`.
    init(connection: ClusterRedis, nodeName: String, keys: ClusterKeys, keyLifetime: Duration, announcesWebhooks: Bool, logger: Logger) {
        self.announcesWebhooks = announcesWebhooks
        self.connection = connection
        self.nodeName = nodeName
        self.keys = keys
        self.keyLifetime = keyLifetime
        self.logger = logger
        for script in Self.scripts { connection.register(script) }
    }

    /// Every script the registry runs, loaded on each new connection.
    static let scripts = [heartbeatScript, sweepScript, undoScript, listScript, epochScript]

    private var seenKey: ByteBuffer { keys.registry("seen") }
    private var infoKey: ByteBuffer { keys.registry("info") }
    private var epochKey: ByteBuffer { keys.registry("epoch") }
    /// Nodes declared dead whose part of presence and occupancy is still being undone.
    private var deadKey: ByteBuffer { keys.registry("dead") }

    /// `KEYS` seen, info, epoch, dead, partitions; `ARGV` name, incarnation, report, time to
    /// live (ms), joining (1/0), a new epoch, the node's number of partitions. Returns Redis's
    /// clock in ms, or -1 when this node's entry is gone (fenced), -2 when it joins while what it
    /// held before it was declared dead is still being undone, -3 when the cluster's nodes use
    /// another number of partitions; and the cluster's epoch: it changes only when Redis lost its
    /// data.
    static let heartbeatScript = ClusterScript(
        """
        local clock = redis.call('TIME')
        local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
        local epoch = redis.call('GET', KEYS[3])
        if not epoch then
          epoch = ARGV[6]
          redis.call('SET', KEYS[3], epoch)
        end
        redis.call('PEXPIRE', KEYS[3], ARGV[4])
        local partitions = redis.call('GET', KEYS[5])
        if partitions and partitions ~= ARGV[7] then return { -3, epoch } end
        redis.call('SET', KEYS[5], ARGV[7], 'PX', ARGV[4])
        if ARGV[5] == '1' and redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then return { -2, epoch } end
        if ARGV[5] == '0' then
          local current = redis.call('HGET', KEYS[2], ARGV[1])
          if not current or string.sub(current, 1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return { -1, epoch } end
        end
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
        return { now, epoch }
        """)
    /// `KEYS` seen, info, dead, then the user counts (``ClusterKeys/users(of:)``) of the nodes
    /// the caller expects dead; `ARGV` silence (ms) after which a node is dead, key lifetime
    /// (ms). Removes each dead node's entry and its user counts, adds it to the dead nodes whose
    /// part is still to undo, and returns `N\0node` for each, for exactly one caller; then every
    /// node still to undo (`D\0node`). Or, changing nothing, asks for the dead nodes it was not
    /// given (``ClusterKeys/undeclaredMark``).
    static let sweepScript = ClusterScript(
        ClusterKeys.declaredNamesLua(after: 3, width: 1, pattern: ClusterKeys.usersKeyPattern) + """
            local clock = redis.call('TIME')
            local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
            local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
            local asked = undeclared(dead)
            if asked then return asked end
            local result = {}
            for _, name in ipairs(dead) do
              redis.call('ZREM', KEYS[1], name)
              redis.call('HDEL', KEYS[2], name)
              redis.call('DEL', KEYS[declared[name]])
              redis.call('SADD', KEYS[3], name)
              redis.call('PEXPIRE', KEYS[3], ARGV[2])
              table.insert(result, 'N\\0' .. name)
            end
            for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do table.insert(result, 'D\\0' .. name) end
            return result
            """)
    /// One partition of a dead node's part undone: `KEYS` its presence and channels in the
    /// partition, the partition's occupied channels and webhooks, then the keys of the channels
    /// the caller knows the node held (``ClusterKeys/channelKeys(_:)``); `ARGV` the node,
    /// webhooks (1/0). A user it alone held leaves (published to the channel and announced), a
    /// channel it alone held is vacated (announced); returns what happened, for exactly one
    /// caller: `L\0channel\0user`, `V\0channel`. Or, changing nothing, asks for the channels it
    /// held that the caller did not give (``ClusterKeys/undeclaredMark``).
    static let undoScript = ClusterScript(
        ClusterKeys.declaredChannelsLua(after: 4) + """
            local name = ARGV[1]
            local result = {}
            local function announce(kind, channel, user)
              if ARGV[2] == '1' then
                redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'k', kind, 'c', channel, 'u', user or '')
              end
            end
            local presence, channels = redis.call('SMEMBERS', KEYS[1]), redis.call('SMEMBERS', KEYS[2])
            local touched = {}
            for _, entry in ipairs(presence) do table.insert(touched, (split(entry))) end
            for _, channel in ipairs(channels) do table.insert(touched, channel) end
            local asked = undeclared(touched)
            if asked then return asked end
            for _, entry in ipairs(presence) do
              local channel, user = split(entry)
              if redis.call('HINCRBY', key(channel, 'members'), user, -1) <= 0 then
                redis.call('HDEL', key(channel, 'members'), user)
                redis.call('HDEL', key(channel, 'info'), user)
                redis.call('ZREM', key(channel, 'order'), user)
                redis.call('PUBLISH', pubSubName(channel), '-\\nL' .. channel .. '\\0' .. user .. '\\0\\0' .. name .. '\\0')
                table.insert(result, 'L\\0' .. channel .. '\\0' .. user)
                announce('member_removed', channel, user)
              end
            end
            redis.call('DEL', KEYS[1])
            for _, channel in ipairs(channels) do
              redis.call('HDEL', key(channel, 'subs'), name)
              if redis.call('SREM', key(channel, 'nodes'), name) == 1 and redis.call('SCARD', key(channel, 'nodes')) == 0 then
                redis.call('SREM', KEYS[3], channel)
                table.insert(result, 'V\\0' .. channel)
                announce('channel_vacated', channel)
              end
            end
            redis.call('DEL', KEYS[2])
            return result
            """)
    /// `KEYS` seen, info. Redis's clock, then every node with its last heartbeat and report.
    static let listScript = ClusterScript(
        """
        local clock = redis.call('TIME')
        local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
        local result = { now }
        local seen = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
        for i = 1, #seen, 2 do
          table.insert(result, seen[i])
          table.insert(result, seen[i + 1])
          table.insert(result, redis.call('HGET', KEYS[2], seen[i]) or '')
        end
        return result
        """)

    private static func newIncarnation() -> String {
        String(UInt64.random(in: 1...UInt64.max), radix: 36)
    }

    /// The last heartbeat's round trip, in milliseconds.
    /// The Redis server's role and replicas, as the last heartbeat read them.
    var replication: ReplicationInfo? { lastReplication.withLockedValue { $0 } }

    var roundTripMilliseconds: Double? {
        let micros = roundTrip.load(ordering: .relaxed)
        return micros < 0 ? nil : Double(micros) / 1000
    }

    /// What one heartbeat found.
    enum Beat: Equatable {
        /// Beating; what this node's sweep removed (usually nothing).
        case beating([SweptChange])
        /// The entry was gone: the node joins again under a new incarnation and must register
        /// what it holds anew, announcing it (others saw it leave) unless Redis lost its data
        /// (`quietly`: for the others nothing changed).
        case rejoin(quietly: Bool)
        /// Redis could not be reached; the next beat tries again.
        case failed
    }

    /// What a sweep did, for the node that did it to announce (webhooks, log, event pane).
    enum SweptChange: Equatable {
        case nodeDead(String)
        case memberLeft(channel: String, user: String)
        case vacated(channel: String)
    }

    /// Beats this node's entry with `report`, then sweeps the dead.
    func beat(report: String) async -> Beat {
        let name = ByteBuffer(string: nodeName)
        let joining = !joined.load(ordering: .relaxed)
        let started = ContinuousClock.now
        let ttl = String(keyLifetime.components.seconds * 1000)
        let reply = try? await connection.evaluate(
            Self.heartbeatScript, keys: [seenKey, infoKey, epochKey, deadKey, keys.registry("partitions")],
            arguments: [
                name, ByteBuffer(string: incarnation.withLockedValue { $0 }), ByteBuffer(string: report), ByteBuffer(string: ttl),
                ByteBuffer(string: joining ? "1" : "0"), ByteBuffer(string: Self.newIncarnation()), ByteBuffer(string: String(keys.partitions)),
            ]
        ).get()
        guard let parts = reply?.elements, parts.count == 2, case .integer(let answer) = parts[0], let epoch = parts[1].string else { return .failed }
        let elapsed = ContinuousClock.now - started
        let micros = Int(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
        roundTrip.store(micros, ordering: .relaxed)
        // One server's replication (with Redis Cluster the shards' figures stand in for it).
        let info = connection.sharded ? nil : try? await connection.send("INFO", "replication").get()
        lastReplication.withLockedValue { $0 = info?.string.flatMap(ReplicationInfo.init(info:)) }
        if answer > 0 {
            // Redis read its clock about half a round trip before the answer arrived.
            clockOffset.store(Int(answer) - (Self.wallMilliseconds() - micros / 2000), ordering: .relaxed)
        }
        let known = knownEpoch.withLockedValue { known in
            defer { known = epoch }
            return known
        }
        if answer == -3 {
            logger.error(
                "the cluster's other nodes spread channels over another number of partitions: give every node the same --redis-partitions",
                metadata: ["node": "\(nodeName)", "partitions": "\(keys.partitions)"])
            return .failed
        }
        if answer == -2 {
            // What this node held before it was declared dead is still being undone: help, then join.
            return .beating(await sweep())
        }
        if answer < 0 {
            let next = Self.newIncarnation()
            incarnation.withLockedValue { $0 = next }
            joined.store(false, ordering: .relaxed)
            let lostData = known != nil && known != epoch
            logger.warning(
                lostData
                    ? "Redis lost its data; registering this node's clients again"
                    : "this node was declared dead; joining again as a new incarnation",
                metadata: ["node": "\(nodeName)", "incarnation": "\(next)"])
            return .rejoin(quietly: lostData)
        }
        registeredEpoch.withLockedValue { registered in
            if registered == nil { registered = epoch }
        }
        if joining {
            joined.store(true, ordering: .relaxed)
            logger.info("joined the cluster", metadata: ["node": "\(nodeName)", "prefix": "\(keys.prefix)"])
        }
        return .beating(await sweep())
    }

    /// Declares the silent nodes dead, then undoes the part of every dead node not undone yet,
    /// each partition with one script (all sent at once; once more for each partition where the
    /// node held something, with the keys of its channels there); a dead node whose every
    /// partition was undone leaves the list. What this node did, for it to announce.
    private func sweep() async -> [SweptChange] {
        let ttl = ByteBuffer(string: String(keyLifetime.components.seconds * 1000))
        let arguments = [ByteBuffer(string: String(Self.deadAfter.components.seconds * 1000)), ttl]
        let keys = self.keys
        guard
            let swept = try? await connection.evaluate(
                Self.sweepScript, keys: [seenKey, infoKey, deadKey], declaring: [], keysOf: { [keys.users(of: $0)] }, arguments: arguments
            ).get()
        else { return [] }
        var changes: [SweptChange] = []
        var undoing: [String] = []
        for line in swept.elements ?? [] {
            let text = line.string ?? ""
            if text.hasPrefix("D\0") { undoing.append(String(text.dropFirst(2))) } else if let change = Self.change(text) { changes.append(change) }
        }
        declaredDead.wrappingAdd(changes.count, ordering: .relaxed)
        for node in undoing {
            let undone = keys.allPartitions.map { partition in
                connection.evaluate(
                    Self.undoScript,
                    keys: [
                        keys.node(node, "presence", in: partition), keys.node(node, "channels", in: partition), keys.occupiedChannels(partition),
                        keys.webhooks(partition),
                    ], declaring: [], keysOf: keys.channelKeys,
                    arguments: [ByteBuffer(string: node), ByteBuffer(string: announcesWebhooks ? "1" : "0")]
                )
            }
            var complete = true
            for reply in undone {
                guard let lines = try? await reply.get() else {
                    complete = false
                    continue
                }
                changes += (lines.elements ?? []).compactMap { Self.change($0.string ?? "") }
            }
            if complete { _ = try? await connection.send([ByteBuffer(string: "SREM"), deadKey, ByteBuffer(string: node)]).get() }
        }
        return changes
    }

    static func change(_ text: String) -> SweptChange? {
        let parts = text.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("N", 2): return .nodeDead(parts[1])
        case ("L", 3): return .memberLeft(channel: parts[1], user: parts[2])
        case ("V", 2): return .vacated(channel: parts[1])
        default: return nil
        }
    }

    /// `KEYS` epoch; `ARGV` a new epoch, taken when there is none. The cluster's epoch.
    static let epochScript = ClusterScript(
        """
        local epoch = redis.call('GET', KEYS[1])
        if epoch then return epoch end
        redis.call('SET', KEYS[1], ARGV[1])
        return ARGV[1]
        """)

    /// Reads the cluster's epoch (taking a new one when Redis has none) for a re-assert, in
    /// order with it: `lostData` when Redis is not at the epoch that holds this node's state, i.e.
    /// it came back without its data and the node must register what it holds again, quietly.
    /// Nil when Redis did not answer. The re-assert that went through reports it with
    /// ``registered(under:)``.
    func epochForReassert() async -> (epoch: String, lostData: Bool)? {
        guard
            let reply = try? await connection.evaluate(Self.epochScript, keys: [epochKey], arguments: [ByteBuffer(string: Self.newIncarnation())])
                .get(),
            let epoch = reply.string
        else { return nil }
        let registered = registeredEpoch.withLockedValue { $0 }
        guard let registered, registered != epoch else { return (epoch, false) }
        logger.warning("Redis lost its data; registering this node's clients again", metadata: ["node": "\(nodeName)"])
        return (epoch, true)
    }

    /// Records that Redis holds this node's state under `epoch` (a re-assert went through).
    func registered(under epoch: String) {
        registeredEpoch.withLockedValue { $0 = epoch }
    }

    /// Takes this node out of the registry (a clean shutdown), so nobody declares it dead.
    func leave() async {
        _ = try? await connection.send([ByteBuffer(string: "ZREM"), seenKey, ByteBuffer(string: nodeName)]).get()
        _ = try? await connection.send([ByteBuffer(string: "HDEL"), infoKey, ByteBuffer(string: nodeName)]).get()
    }

    /// How many partitions the cluster's live nodes spread channels over; nil when none says.
    static func partitions(keys: ClusterKeys, on connection: ClusterRedis) async throws -> Int? {
        try await connection.send([ByteBuffer(string: "GET"), keys.registry("partitions")]).get().string.flatMap(Int.init)
    }

    /// Milliseconds since the node named `name` last beat, by Redis's clock; nil if it is not listed.
    static func heartbeatAge(of name: String, keys: ClusterKeys, on connection: ClusterRedis) async throws -> Int? {
        let seen = connection.send([ByteBuffer(string: "ZSCORE"), keys.registry("seen"), ByteBuffer(string: name)])
        let time = connection.send("TIME")
        // Both answers are awaited, so none is still in flight when the caller stops the connection.
        let (score, clock) = (try await seen.get().string.flatMap(Double.init), try await time.get().elements)
        guard let score, let clock,
            clock.count == 2, let seconds = clock[0].string.flatMap(Int.init), let micros = clock[1].string.flatMap(Int.init)
        else { return nil }
        return max(0, seconds * 1000 + micros / 1000 - Int(score))
    }

    /// One node as `GET /api/nodes` lists it.
    struct Entry: Sendable {
        var name: String
        var alive: Bool
        var heartbeatAgeMilliseconds: Int
        /// Changes each time the node (re)joins: a node declared dead comes back as a new one.
        var incarnation: String
        /// The node's ``NodeReport`` members, as it last wrote them.
        var report: String

        /// The entry as the console's nodes pane shows it (figures from the node's report).
        var row: NodeRow {
            let figures = (try? JSONSerialization.jsonObject(with: Data(("{" + report + "}").utf8))) as? [String: Any] ?? [:]
            let redis = figures["redis"] as? [String: Any] ?? [:]
            func number(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? 0 }
            return NodeRow(
                name: name, state: alive ? "alive" : "dead", heartbeatAgeMilliseconds: heartbeatAgeMilliseconds,
                address: figures["address"] as? String ?? "", connections: Int(number(figures["connections"])),
                mailboxDepth: Int(number(figures["mailbox_depth"])), messagesInPerSecond: number(figures["messages_in_per_s"]),
                messagesOutPerSecond: number(figures["messages_out_per_s"]), redisRoundTripMilliseconds: (redis["rtt_ms"] as? NSNumber)?.doubleValue,
                redisUp: redis["up"] as? Bool ?? false,
                redisServer: (redis["server"] as? String).map { server in
                    [server, redis["summary"] as? String].compactMap(\.self).joined(separator: " ")
                },
                redisShards: (redis["shards"] as? [[String: Any]]).map { shards in
                    shards.map { shard in
                        ShardRow(
                            address: shard["address"] as? String ?? "", role: shard["role"] as? String ?? "master",
                            roundTripMicroseconds: (shard["round_trip_us"] as? NSNumber)?.intValue, pending: Int(number(shard["pending"])),
                            up: shard["up"] as? Bool ?? false, subscriberUp: shard["subscriber_up"] as? Bool ?? false)
                    }
                })
        }

        var json: String {
            "{\"name\":\(JSONText.quoted(name)),\"state\":\"\(alive ? "alive" : "dead")\",\"heartbeat_age_ms\":\(heartbeatAgeMilliseconds),"
                + "\"incarnation\":\(JSONText.quoted(incarnation))"
                + (report.isEmpty ? "" : "," + report) + "}"
        }
    }

    /// Every node in Redis, alive or declared dead and not yet removed.
    func nodes() async throws(OperatorFailure) -> [Entry] {
        let reply: RESPValue
        do {
            reply = try await connection.evaluate(Self.listScript, keys: [seenKey, infoKey], arguments: []).get()
        } catch {
            throw .redisUnreachable(": \(error)")
        }
        guard let parts = reply.elements, case .integer(let now)? = parts.first else {
            throw OperatorFailure(.unavailable, "Redis answered the node list with \(reply)")
        }
        var entries: [Entry] = []
        var index = 1
        let deadAfter = Int(Self.deadAfter.components.seconds * 1000)
        while index + 2 < parts.count {
            guard let name = parts[index].string, let seen = parts[index + 1].string.flatMap(Double.init) else { break }
            let stored = parts[index + 2].string ?? ""
            let space = stored.firstIndex(of: " ") ?? stored.endIndex
            let report = space == stored.endIndex ? "" : String(stored[stored.index(after: space)...])
            let age = max(0, Int(now) - Int(seen))
            entries.append(
                Entry(name: name, alive: age < deadAfter, heartbeatAgeMilliseconds: age, incarnation: String(stored[..<space]), report: report))
            index += 3
        }
        return entries
    }
}
