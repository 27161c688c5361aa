import NIOCore
import RedisClient
import SwitchboardCore

/// Connections per user across the cluster, for `max-connections-per-user`: each node keeps
/// its own count of each user's connections and writes it to `…{nodes}:node:n:users` (user → count),
/// as a value, never as a change; a new connection is admitted by a script that adds up the
/// live nodes' counts.
///
/// A connection that closed stops counting at the node's next flush (every heartbeat, once a
/// second); a dead node stops counting as soon as it stops heartbeating, and its key expires.
extension ClusterLink {
    /// `KEYS` the registry's heartbeat set; `ARGV` the registry's stem, this node, user, this
    /// node's count of the user with the new connection, the limit, the silence (ms) after which
    /// a node is dead, the key lifetime (ms). Returns 1 and keeps the node's count when the
    /// cluster's total stays within the limit, 0 otherwise. It reads the other nodes' keys, which
    /// it names from the registry's stem: all of them in the registry's slot.
    static let admitUserScript = ClusterScript(
        """
        local clock = redis.call('TIME')
        local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
        local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[6]), '+inf')
        local total = tonumber(ARGV[4])
        for _, node in ipairs(nodes) do
          if node ~= ARGV[2] then
            total = total + (tonumber(redis.call('HGET', ARGV[1] .. ':node:' .. node .. ':users', ARGV[3])) or 0)
          end
        end
        if total > tonumber(ARGV[5]) then return 0 end
        local own = ARGV[1] .. ':node:' .. ARGV[2] .. ':users'
        redis.call('HSET', own, ARGV[3], ARGV[4])
        redis.call('PEXPIRE', own, ARGV[7])
        return 1
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
            ByteBuffer(string: keys.registryStem), ByteBuffer(string: nodeName), ByteBuffer(string: user),
            ByteBuffer(string: String(localCount)), ByteBuffer(string: String(limit)),
            ByteBuffer(string: String(NodeRegistry.deadAfter.components.seconds * 1000)), keyLifetime,
        ]
        guard let reply = try? await connection.evaluate(Self.admitUserScript, keys: [keys.registry("seen")], arguments: arguments).get() else {
            return .unavailable
        }
        return reply.int == 1 ? .admitted : .tooMany
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
