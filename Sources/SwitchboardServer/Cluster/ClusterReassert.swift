import NIOCore
import RedisClient
import SwitchboardCore

/// A node re-asserting its truth: after every reconnect to Redis, whenever a request's outcome
/// was unknown, and on a slow beat, the node tells Redis everything it holds (its connections'
/// presence, the channels it has subscribers for and how many), and one script makes Redis
/// agree, announcing every change it makes as the join, leave and occupancy scripts would.
/// Redis converges to the nodes; nothing drifts for the life of a node.
extension ClusterLink {
    /// One partition at a time: `KEYS` the node's presence and channels in the partition, the
    /// partition's occupied channels and webhooks, then the keys of every channel the node holds
    /// in the partition or Redis holds for it (``ClusterKeys/channelKeys(_:)``); `ARGV` node,
    /// quiet (1: Redis lost its data, publish and announce nothing), the number of presence
    /// entries `n`, `n` entries `channel\0user\0info`, the number of channels `m`, `m` entries
    /// `channel\0subscriptions`, webhooks (1/0), key lifetime (ms). Returns how many changes it
    /// made, or, changing nothing, asks for the channels Redis holds for the node that it was not
    /// given (``ClusterKeys/undeclaredMark``).
    static let reassertScript = ClusterScript(
        keepingKeys(own: 4) + ClusterKeys.declaredChannelsLua(after: 4) + """
            local node, quiet = ARGV[1], ARGV[2] == '1'
            local ttl = ARGV[#ARGV]
            local changes = 0
            local function publish(channel, payload)
              if not quiet then redis.call('PUBLISH', pubSubName(channel), payload) end
            end
            local n = tonumber(ARGV[3])
            local m = tonumber(ARGV[4 + n])
            local presence, channels = redis.call('SMEMBERS', KEYS[1]), redis.call('SMEMBERS', KEYS[2])
            local touched = {}
            for _, entry in ipairs(presence) do table.insert(touched, (split(entry))) end
            for _, channel in ipairs(channels) do table.insert(touched, channel) end
            for i = 1, n do table.insert(touched, (split(ARGV[3 + i]))) end
            for i = 1, m do table.insert(touched, (split(ARGV[4 + n + i]))) end
            local asked = undeclared(touched)
            if asked then return asked end
            local held = {}
            for i = 1, n do
              local channel, rest = split(ARGV[3 + i])
              local user, info = split(rest)
              local entry = channel .. '\\0' .. user
              held[entry] = true
              if redis.call('SADD', KEYS[1], entry) == 1 then
                changes = changes + 1
                if redis.call('HINCRBY', key(channel, 'members'), user, 1) == 1 then
                  redis.call('HSET', key(channel, 'info'), user, info)
                  redis.call('ZADD', key(channel, 'order'), redis.call('INCR', key(channel, 'joins')), user)
                  publish(channel, '-\\nJ' .. channel .. '\\0' .. user .. '\\0\\0' .. node .. '\\0' .. info)
                  if not quiet then announce('member_added', channel, user) end
                end
                for _, part in ipairs({'members', 'info', 'order', 'joins'}) do redis.call('PEXPIRE', key(channel, part), ttl) end
              end
            end
            for _, entry in ipairs(presence) do
              if not held[entry] then
                changes = changes + 1
                redis.call('SREM', KEYS[1], entry)
                local channel, user = split(entry)
                if redis.call('HINCRBY', key(channel, 'members'), user, -1) <= 0 then
                  redis.call('HDEL', key(channel, 'members'), user)
                  redis.call('HDEL', key(channel, 'info'), user)
                  redis.call('ZREM', key(channel, 'order'), user)
                  publish(channel, '-\\nL' .. channel .. '\\0' .. user .. '\\0\\0' .. node .. '\\0')
                  announce('member_removed', channel, user)
                end
              end
            end
            local holds = {}
            for i = 1, m do
              local channel, count = split(ARGV[4 + n + i])
              holds[channel] = true
              redis.call('HSET', key(channel, 'subs'), node, count)
              redis.call('SADD', KEYS[2], channel)
              if redis.call('SADD', key(channel, 'nodes'), node) == 1 then
                changes = changes + 1
                if redis.call('SCARD', key(channel, 'nodes')) == 1 then
                  redis.call('SADD', KEYS[3], channel)
                  if not quiet then announce('channel_occupied', channel) end
                end
              end
              redis.call('PEXPIRE', key(channel, 'subs'), ttl)
              redis.call('PEXPIRE', key(channel, 'nodes'), ttl)
            end
            for _, channel in ipairs(channels) do
              if not holds[channel] then
                changes = changes + 1
                redis.call('SREM', KEYS[2], channel)
                redis.call('HDEL', key(channel, 'subs'), node)
                if redis.call('SREM', key(channel, 'nodes'), node) == 1 and redis.call('SCARD', key(channel, 'nodes')) == 0 then
                  redis.call('SREM', KEYS[3], channel)
                  announce('channel_vacated', channel)
                end
              end
            end
            return kept(changes)
            """)

    /// Runs ``reassertScript`` for every partition (all at once) with the node's presence and
    /// channels in it: how many changes Redis needed.
    func reassert(presence: [(channel: String, member: PresenceMember)], channels: [(String, Int)], quietly: Bool) -> EventLoopFuture<Int> {
        var presenceByPartition = [[(channel: String, member: PresenceMember)]](repeating: [], count: keys.partitions)
        for held in presence { presenceByPartition[keys.partition(of: held.channel)].append(held) }
        var channelsByPartition = [[(String, Int)]](repeating: [], count: keys.partitions)
        for held in channels { channelsByPartition[keys.partition(of: held.0)].append(held) }
        let replies = keys.allPartitions.map { partition in
            reassert(partition: partition, presence: presenceByPartition[partition], channels: channelsByPartition[partition], quietly: quietly)
        }
        return EventLoopFuture.whenAllSucceed(replies, on: eventLoop).map { $0.reduce(0, +) }
    }

    private func reassert(partition: Int, presence: [(channel: String, member: PresenceMember)], channels: [(String, Int)], quietly: Bool)
        -> EventLoopFuture<Int>
    {
        var arguments = [ByteBuffer(string: nodeName), ByteBuffer(string: quietly ? "1" : "0")]
        arguments.append(ByteBuffer(string: String(presence.count)))
        for (channel, member) in presence {
            var entry = ByteBuffer(string: channel + "\0" + member.userID + "\0")
            entry.writeBytes(member.info ?? [])
            arguments.append(entry)
        }
        arguments.append(ByteBuffer(string: String(channels.count)))
        for (channel, count) in channels { arguments.append(ByteBuffer(string: channel + "\0" + String(count))) }
        arguments += [ByteBuffer(string: announcesWebhooks ? "1" : "0"), keyLifetime]
        let scriptKeys = [
            keys.node(nodeName, "presence", in: partition), keys.node(nodeName, "channels", in: partition), keys.occupiedChannels(partition),
            keys.webhooks(partition),
        ]
        let held = Set(presence.map(\.channel)).union(channels.map(\.0))
        let keys = self.keys
        return connection.evaluate(Self.reassertScript, keys: scriptKeys, declaring: held, keysOf: keys.channelKeys, arguments: arguments)
            .flatMapThrowing { reply in
                guard case .integer(let changes) = reply else { throw RedisError.reply("the re-assert script returned \(reply)") }
                return Int(changes)
            }
    }

    /// A request that changes the node's part of the cluster's state failed, and may or may not
    /// have been carried out: the node re-asserts its state at the next chance (at once if the
    /// link is up, else after it reconnects).
    func unsure() {
        eventLoop.execute {
            guard !self.needsReassert else { return }
            self.needsReassert = true
            if self.isUp { self.reassert() }
        }
    }
}
