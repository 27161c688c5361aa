import NIOCore
import RedisClient
import SwitchboardCore

/// Presence and occupancy across the cluster, kept in Redis and changed only by scripts, so that
/// exactly one node sees each user's 0 → 1 and 1 → 0 and each channel's occupied and vacated.
///
/// Per channel `c` (prefix `p`): `p:{c}:members` (user → how many nodes hold the user),
/// `p:{c}:info` (user → user info), `p:{c}:order` (user → join number, from `p:{c}:joins`) and
/// `p:{c}:nodes` (nodes with subscribers). Per node `n`: `p:node:n:presence` (`channel\0user`
/// pairs it holds) and `p:node:n:channels`, so a survivor can undo a dead node's part (see
/// ``NodeRegistry``). A node counts its own tabs of a user itself and tells Redis only of the
/// user's first and last connection on the node.
extension ClusterLink {
    /// What Redis said of a join.
    enum JoinOutcome: Equatable {
        /// The user's first connection in the cluster: this node announces `member_added`.
        case joined
        /// The user was already present on another node: nothing to announce.
        case alreadyPresent
        /// The channel holds its limit of users, cluster-wide.
        case full
    }

    /// Lua for the scripts that write the cluster's keys: `kept(result)` gives every key the
    /// script names (`KEYS`) the lifetime in its last argument, then returns `result`.
    static let keepingKeys = """
        local function kept(result)
          for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[#ARGV]) end
          return result
        end

        """

    /// `KEYS` members, info, order, joins, node presence; `ARGV` user, info, channel, limit,
    /// pub/sub name, the `member_added` payload, quiet (1: re-registering, publish nothing), key
    /// lifetime (ms).
    static let joinScript = RedisScript(
        keepingKeys + """
            local entry = ARGV[3] .. '\\0' .. ARGV[1]
            if redis.call('SISMEMBER', KEYS[5], entry) == 1 then return 0 end
            local count = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
            if count == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
            redis.call('SADD', KEYS[5], entry)
            redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
            if count > 0 then return kept(0) end
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
            redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
            if ARGV[7] ~= '1' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
            return kept(1)
            """)
    /// `KEYS` members, info, order, node presence; `ARGV` user, channel, pub/sub name, the
    /// `member_removed` payload. 1 when the user left the cluster's channel.
    static let leaveScript = RedisScript(
        """
        if redis.call('SREM', KEYS[4], ARGV[2] .. '\\0' .. ARGV[1]) == 0 then return -1 end
        if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) > 0 then return 0 end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('ZREM', KEYS[3], ARGV[1])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """)
    /// `KEYS` order, info: user id and info of every member, in join order.
    static let membersScript = RedisScript(
        """
        local users = redis.call('ZRANGE', KEYS[1], 0, -1)
        local result = {}
        for _, user in ipairs(users) do
          table.insert(result, user)
          table.insert(result, redis.call('HGET', KEYS[2], user) or '')
        end
        return result
        """)
    /// `KEYS` channel's nodes, node's channels; `ARGV` node, channel, 1 to occupy or 0 to vacate,
    /// key lifetime (ms). 1 when the channel became occupied (or vacated) cluster-wide.
    /// `KEYS` …, the cluster's occupied channels (`p:channels`).
    static let occupancyScript = RedisScript(
        keepingKeys + """
            if ARGV[3] == '1' then
              redis.call('SADD', KEYS[2], ARGV[2])
              if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 1 then
                redis.call('SADD', KEYS[3], ARGV[2])
                return kept(1)
              end
              return kept(0)
            end
            redis.call('SREM', KEYS[2], ARGV[2])
            if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
              redis.call('SREM', KEYS[3], ARGV[2])
              return 1
            end
            return 0
            """)
    /// `KEYS` the channel's subscriptions per node (`p:{c}:subs`); `ARGV` node, change (or `=n`
    /// to set it), key lifetime (ms).
    static let countScript = RedisScript(
        keepingKeys + """
            local count
            if string.sub(ARGV[2], 1, 1) == '=' then
              count = tonumber(string.sub(ARGV[2], 2))
              redis.call('HSET', KEYS[1], ARGV[1], count)
            else
              count = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
            end
            if count <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
            return kept(0)
            """)
    /// `KEYS` node presence, node channels, the cluster's occupied channels; `ARGV` key prefix,
    /// key lifetime (ms). Renews the lifetime of this node's keys and of the keys of every
    /// channel it holds (run every third of the lifetime).
    static let renewScript = RedisScript(
        """
        for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[2]) end
        for _, channel in ipairs(redis.call('SMEMBERS', KEYS[2])) do
          local base = ARGV[1] .. ':{' .. channel .. '}:'
          for _, part in ipairs({'members', 'info', 'order', 'joins', 'subs', 'nodes'}) do redis.call('PEXPIRE', base .. part, ARGV[2]) end
        end
        return 0
        """)
    /// `KEYS` occupied channels; `ARGV` key prefix, channel-name prefix. For each occupied
    /// channel whose name starts so: its name, subscriptions on every node, users present.
    static let channelsScript = RedisScript(
        """
        local result = {}
        for _, channel in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if string.sub(channel, 1, #ARGV[2]) == ARGV[2] then
            local base = ARGV[1] .. ':{' .. channel .. '}:'
            local subscriptions = 0
            for _, count in ipairs(redis.call('HVALS', base .. 'subs')) do subscriptions = subscriptions + tonumber(count) end
            table.insert(result, channel)
            table.insert(result, subscriptions)
            table.insert(result, redis.call('HLEN', base .. 'members'))
          end
        end
        return result
        """)

    static let presenceScripts = [joinScript, leaveScript, membersScript, occupancyScript, countScript, channelsScript, renewScript]

    private func channelKey(_ channel: String, _ part: String) -> ByteBuffer {
        ByteBuffer(string: "\(configuration.prefix):{\(channel)}:\(part)")
    }

    func nodeKey(_ part: String) -> ByteBuffer {
        ByteBuffer(string: "\(configuration.prefix):node:\(nodeName):\(part)")
    }

    /// This node's first connection of `member` joined `channel`.
    func join(_ member: PresenceMember, channel: String, limit: Int, except: String?, from: String, quiet: Bool = false)
        -> EventLoopFuture<JoinOutcome>
    {
        let event = ClusterEnvelope.presenceChange(joined: true, channel: channel, member: member, except: except, from: from)
        let arguments = [
            ByteBuffer(string: member.userID), ByteBuffer(bytes: member.info ?? []), ByteBuffer(string: channel), ByteBuffer(string: String(limit)),
            ByteBuffer(string: pubSubName(channel)), event, ByteBuffer(string: quiet ? "1" : "0"), keyLifetime,
        ]
        let keys = [
            channelKey(channel, "members"), channelKey(channel, "info"), channelKey(channel, "order"), channelKey(channel, "joins"),
            nodeKey("presence"),
        ]
        return connection.evaluate(Self.joinScript, keys: keys, arguments: arguments).flatMapThrowing { reply in
            switch reply {
            case .integer(1): .joined
            case .integer(0): .alreadyPresent
            case .integer(-1): .full
            default: throw RedisError.reply("the join script returned \(reply)")
            }
        }
    }

    /// This node's last connection of `userID` left `channel`; true when the user left the
    /// cluster's channel (this node announces `member_removed`).
    func leave(userID: String, channel: String, from: String) -> EventLoopFuture<Bool> {
        let event = ClusterEnvelope.presenceChange(
            joined: false, channel: channel, member: PresenceMember(userID: userID, info: nil), except: nil, from: from)
        let keys = [channelKey(channel, "members"), channelKey(channel, "info"), channelKey(channel, "order"), nodeKey("presence")]
        let arguments = [ByteBuffer(string: userID), ByteBuffer(string: channel), ByteBuffer(string: pubSubName(channel)), event]
        return connection.evaluate(Self.leaveScript, keys: keys, arguments: arguments).map { $0 == .integer(1) }
    }

    /// The members of `channel` on every node, in join order.
    func members(of channel: String) -> EventLoopFuture<[PresenceMember]> {
        connection.evaluate(Self.membersScript, keys: [channelKey(channel, "order"), channelKey(channel, "info")], arguments: []).map { reply in
            let parts = reply.elements ?? []
            return stride(from: 0, to: parts.count - 1, by: 2).compactMap { index in
                guard case .bulkString(let user?) = parts[index] else { return nil }
                let info: [UInt8]? =
                    if case .bulkString(let bytes?) = parts[index + 1], bytes.readableBytes > 0 { Array(bytes.readableBytesView) } else { nil }
                return PresenceMember(userID: String(buffer: user), info: info)
            }
        }
    }

    /// The node gained its first (`occupied`) or lost its last subscriber of `channel`; true when
    /// that made the channel occupied or vacated cluster-wide (this node announces it).
    func changeOccupancy(_ channel: String, occupied: Bool) -> EventLoopFuture<Bool> {
        let arguments = [ByteBuffer(string: nodeName), ByteBuffer(string: channel), ByteBuffer(string: occupied ? "1" : "0"), keyLifetime]
        let keys = [channelKey(channel, "nodes"), nodeKey("channels"), ByteBuffer(string: "\(configuration.prefix):channels")]
        return connection.evaluate(Self.occupancyScript, keys: keys, arguments: arguments).map { $0 == .integer(1) }
    }

    /// A subscription to `channel` was made (`by` 1) or ended (-1) on this node. Batched with
    /// the tick's other requests; a failure (Redis down) is not retried, and the count heals
    /// when the node registers again.
    func countSubscription(_ channel: String, by change: Int) {
        changeSubscriptions(channel, String(change))
    }

    /// Sets this node's subscription count of `channel` (registering again).
    func setSubscriptions(_ channel: String, to count: Int) {
        changeSubscriptions(channel, "=\(count)")
    }

    private func changeSubscriptions(_ channel: String, _ change: String) {
        _ = connection.evaluate(
            Self.countScript, keys: [channelKey(channel, "subs")], arguments: [ByteBuffer(string: nodeName), ByteBuffer(string: change), keyLifetime])
    }

    /// Renews the lifetime of this node's keys and of those of every channel it holds, so they
    /// last while the node does and expire ``ClusterConfiguration/keyLifetime`` after it (and
    /// every other node holding them) is gone.
    func renewKeys() async throws {
        let keys = [nodeKey("presence"), nodeKey("channels"), ByteBuffer(string: "\(configuration.prefix):channels")]
        _ = try await connection.evaluate(Self.renewScript, keys: keys, arguments: [ByteBuffer(string: configuration.prefix), keyLifetime]).get()
    }

    /// ``ClusterConfiguration/keyLifetime`` in milliseconds, as scripts take it.
    var keyLifetime: ByteBuffer {
        ByteBuffer(
            string: String(
                configuration.keyLifetime.components.seconds * 1000 + configuration.keyLifetime.components.attoseconds / 1_000_000_000_000_000))
    }

    /// Subscriptions (on every node) and present users of each occupied channel whose name
    /// starts with `prefix`.
    func channelCounts(prefix: String) -> EventLoopFuture<[String: (subscriptions: Int, users: Int)]> {
        let keys = [ByteBuffer(string: "\(configuration.prefix):channels")]
        return connection.evaluate(
            Self.channelsScript, keys: keys, arguments: [ByteBuffer(string: configuration.prefix), ByteBuffer(string: prefix)]
        ).map {
            reply in
            let parts = reply.elements ?? []
            var counts: [String: (subscriptions: Int, users: Int)] = [:]
            for index in stride(from: 0, to: parts.count - 2, by: 3) {
                guard let name = parts[index].string, case .integer(let subscriptions) = parts[index + 1], case .integer(let users) = parts[index + 2]
                else { continue }
                counts[name] = (Int(subscriptions), Int(users))
            }
            return counts
        }
    }
}
