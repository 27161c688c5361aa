import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import SwitchboardCore
import Synchronization

/// The cluster's nodes, as data in Redis: each node beats its entry (a score of Redis's clock in
/// a sorted set, its report in a hash) about every second; a node silent for ``deadAfter`` is
/// declared dead by whichever surviving node sweeps first (one script, so exactly one), and its
/// entry is removed. Both keys expire on their own when every node is gone.
///
/// A node whose entry vanished while it was beating (it was declared dead while paused, or
/// Redis came back empty) is fenced: it takes a new incarnation and joins again, rather than
/// going on as if nothing happened.
final class NodeRegistry: Sendable {
    /// How long a node may stay silent before it is declared dead.
    static let deadAfter = Duration.seconds(5)
    let connection: RedisConnection
    let nodeName: String
    let prefix: String
    private let logger: Logger
    private let incarnation = NIOLockedValueBox(NodeRegistry.newIncarnation())
    private let joined = Atomic<Bool>(false)
    /// Microseconds of the last heartbeat's round trip; -1 before the first.
    private let roundTrip = Atomic<Int>(-1)

    /// Loads the registry's scripts on `connection`.
    init(connection: RedisConnection, nodeName: String, prefix: String, logger: Logger) {
        self.connection = connection
        self.nodeName = nodeName
        self.prefix = prefix
        self.logger = logger
        connection.register(Self.heartbeatScript)
        connection.register(Self.sweepScript)
        connection.register(Self.listScript)
    }

    private var seenKey: ByteBuffer { ByteBuffer(string: "\(prefix):nodes:seen") }
    private var infoKey: ByteBuffer { ByteBuffer(string: "\(prefix):nodes:info") }

    /// `KEYS` seen, info; `ARGV` name, incarnation, report, time to live (ms), joining (1/0).
    /// Returns Redis's clock in ms, or -1 when this node's entry is gone (fenced).
    static let heartbeatScript = RedisScript(
        """
        local clock = redis.call('TIME')
        local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
        if ARGV[5] == '0' then
          local current = redis.call('HGET', KEYS[2], ARGV[1])
          if not current or string.sub(current, 1, #ARGV[2] + 1) ~= ARGV[2] .. ' ' then return -1 end
        end
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
        return now
        """)
    /// `KEYS` seen, info; `ARGV` silence (ms) after which a node is dead. Removes the dead and
    /// returns their names: each removal is returned to exactly one caller.
    static let sweepScript = RedisScript(
        """
        local clock = redis.call('TIME')
        local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
        local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
        for _, name in ipairs(dead) do
          redis.call('ZREM', KEYS[1], name)
          redis.call('HDEL', KEYS[2], name)
        end
        return dead
        """)
    /// `KEYS` seen, info. Redis's clock, then every node with its last heartbeat and report.
    static let listScript = RedisScript(
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
    var roundTripMilliseconds: Double? {
        let micros = roundTrip.load(ordering: .relaxed)
        return micros < 0 ? nil : Double(micros) / 1000
    }

    /// Beats this node's entry with `report`, then sweeps the dead; returns the nodes this node
    /// declared dead. Fails quietly while Redis cannot be reached (the next beat tries again).
    func beat(report: String) async -> [String] {
        let name = ByteBuffer(string: nodeName)
        let joining = !joined.load(ordering: .relaxed)
        let started = ContinuousClock.now
        let ttl = String(Self.deadAfter.components.seconds * 1000 * 12)
        let reply = try? await connection.evaluate(
            Self.heartbeatScript, keys: [seenKey, infoKey],
            arguments: [
                name, ByteBuffer(string: incarnation.withLockedValue { $0 }), ByteBuffer(string: report), ByteBuffer(string: ttl),
                ByteBuffer(string: joining ? "1" : "0"),
            ]
        ).get()
        guard case .integer(let answer)? = reply else { return [] }
        let elapsed = ContinuousClock.now - started
        roundTrip.store(Int(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000), ordering: .relaxed)
        if answer < 0 {
            let next = Self.newIncarnation()
            incarnation.withLockedValue { $0 = next }
            joined.store(false, ordering: .relaxed)
            logger.warning(
                "this node's cluster entry was removed (declared dead, or Redis lost its data); joining again",
                metadata: ["node": "\(nodeName)", "incarnation": "\(next)"])
            return []
        }
        if joining {
            joined.store(true, ordering: .relaxed)
            logger.info("joined the cluster", metadata: ["node": "\(nodeName)", "prefix": "\(prefix)"])
        }
        let silence = ByteBuffer(string: String(Self.deadAfter.components.seconds * 1000))
        guard let swept = try? await connection.evaluate(Self.sweepScript, keys: [seenKey, infoKey], arguments: [silence]).get() else {
            return []
        }
        return (swept.elements ?? []).compactMap(\.string)
    }

    /// Milliseconds since the node named `name` last beat, by Redis's clock; nil if it is not listed.
    static func heartbeatAge(of name: String, prefix: String, on connection: RedisConnection) async throws -> Int? {
        let seen = connection.send("ZSCORE", "\(prefix):nodes:seen", name)
        let time = connection.send("TIME")
        guard let score = try await seen.get().string.flatMap(Double.init), let clock = try await time.get().elements,
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
            throw OperatorFailure(.unavailable, "the cluster's Redis cannot be reached: \(error)")
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
