import NIOCore
import RedisClient
import SwitchboardCore
import Synchronization

/// Connections per user across the cluster, for `max-connections-per-user`: each node keeps
/// its own count of each user's connections and writes it to `…{nodes}:node:n:users` (user → count),
/// as a value, never as a change; a new connection is admitted by a script that adds up the
/// live nodes' counts.
///
/// A connection that closed stops counting at the node's next flush (every heartbeat, once a
/// second); a dead node stops counting as soon as it stops heartbeating, and its key expires.
extension ClusterLink {
    /// `KEYS` the registry's heartbeat set, this node's users, then the users of the other nodes
    /// the caller knows of (``ClusterKeys/users(of:)``); `ARGV` this node, user, this node's count
    /// of the user with the new connection, the limit, the silence (ms) after which a node is
    /// dead, the key lifetime (ms). Returns 1 and keeps the node's count when the live nodes'
    /// total stays within the limit, 0 otherwise, then the other live nodes; or, changing
    /// nothing, asks for the live nodes it was not given (``ClusterKeys/undeclaredMark``).
    static let admitUserScript = ClusterScript(
        ClusterKeys.declaredNamesLua(after: 2, width: 1, pattern: ClusterKeys.usersKeyPattern) + """
            local clock = redis.call('TIME')
            local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
            local others = {}
            for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[5]), '+inf')) do
              if node ~= ARGV[1] then table.insert(others, node) end
            end
            local asked = undeclared(others)
            if asked then return asked end
            local total = tonumber(ARGV[3])
            for _, node in ipairs(others) do
              total = total + (tonumber(redis.call('HGET', KEYS[declared[node]], ARGV[2])) or 0)
            end
            if total > tonumber(ARGV[4]) then return { 0, unpack(others) } end
            redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
            redis.call('PEXPIRE', KEYS[2], ARGV[6])
            return { 1, unpack(others) }
            """)

    /// `KEYS` the node's users; `ARGV` replace (1: the pairs are every user the node has),
    /// the key lifetime (ms), then user, count pairs (0 removes the user).
    static let userCountsScript = ClusterScript(
        """
        if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
        for i = 3, #ARGV, 2 do
          if ARGV[i + 1] == '0' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
        end
        if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 1
        """)

    /// Whether one more connection of `user`, which makes `localCount` on this node, keeps the
    /// cluster within `limit`.
    func admitUser(_ user: String, localCount: Int, limit: Int) async -> UserAdmission {
        let arguments = [
            ByteBuffer(string: nodeName), ByteBuffer(string: user), ByteBuffer(string: String(localCount)), ByteBuffer(string: String(limit)),
            ByteBuffer(string: String(NodeRegistry.deadAfter.components.seconds * 1000)), keyLifetime,
        ]
        let keys = self.keys
        guard
            let reply = try? await connection.evaluate(
                Self.admitUserScript, keys: [keys.registry("seen"), keys.users(of: nodeName)],
                declaring: admissionPeers.withLock { $0 }, keysOf: { [keys.users(of: $0)] }, arguments: arguments
            ).get()
        else { return .unavailable }
        let parts = reply.elements ?? []
        admissionPeers.withLock { $0 = Set(parts.dropFirst().compactMap(\.string)) }
        return parts.first?.int == 1 ? .admitted : .tooMany
    }

    /// Writes this node's counts of `counts`' users (all of them when `replacing`, which first
    /// forgets every user Redis holds for the node).
    func writeUserCounts(_ counts: [String: Int], replacing: Bool) async throws {
        var arguments = [ByteBuffer(string: replacing ? "1" : "0"), keyLifetime]
        for (user, count) in counts {
            arguments.append(ByteBuffer(string: user))
            arguments.append(ByteBuffer(string: String(count)))
        }
        _ = try await connection.evaluate(Self.userCountsScript, keys: [keys.users(of: nodeName)], arguments: arguments).get()
    }
}
