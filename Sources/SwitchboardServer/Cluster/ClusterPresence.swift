import NIOCore
import RedisClient
import SwitchboardCore

/// Presence and occupancy across the cluster, kept in Redis and changed only by scripts, so that
/// exactly one node sees each user's 0 → 1 and 1 → 0 and each channel's occupied and vacated.
///
/// Per channel `c` (in partition `p`, see ``ClusterKeys``): `…{c}:members` (user → how many
/// nodes hold the user), `…{c}:info` (user → user info), `…{c}:order` (user → join number, from
/// `…{c}:joins`) and `…{c}:nodes` (nodes with subscribers). Per node `n` and partition:
/// `…{p}:node:n:presence` (`channel\0user` pairs it holds) and `…{p}:node:n:channels`, so a
/// survivor can undo a dead node's part (see ``NodeRegistry``). Every script works on one
/// partition, so on one slot. A node counts its own tabs of a user itself and tells Redis only of the
/// user's first and last connection on the node.
///
/// Every script is idempotent per node (keyed by node, channel and user, and counts are set,
/// not added to), and the scripts that change presence or occupancy announce the change
/// themselves: to the channel's pub/sub stream and, when the node delivers webhooks, to the
/// cluster's webhook stream. A lost reply can neither lose nor double an announcement.
extension ClusterLink {
    /// Lua for the scripts that write the cluster's keys, whose own keys are the first `own` (all
    /// of `KEYS` when nil; the keys of channels a script finds in Redis come after them):
    /// `kept(result)` gives each of its own keys the lifetime in its last argument, then returns
    /// `result`; `announce(kind, channel, user)` appends a webhook announcement to the cluster's
    /// stream (the last of its own keys) when the argument before the lifetime is `1`.
    static func keepingKeys(own: Int? = nil) -> String {
        """
        local ownKeys = \(own.map(String.init) ?? "#KEYS")
        local function kept(result)
          for i = 1, ownKeys do redis.call('PEXPIRE', KEYS[i], ARGV[#ARGV]) end
          return result
        end
        local function announce(kind, channel, user)
          if ARGV[#ARGV - 1] == '1' then
            redis.call('XADD', KEYS[ownKeys], 'MAXLEN', '~', '10000', '*', 'k', kind, 'c', channel, 'u', user or '')
          end
        end

        """
    }

    /// `KEYS` members, info, order, joins, node presence, webhooks; `ARGV` user, info, channel,
    /// limit, pub/sub name, the `member_added` payload, the time (ms since 1970) after which the
    /// node no longer waits for the answer, webhooks (1/0), key lifetime (ms). A join the node
    /// already made changes nothing; one that runs after the node gave up on it (Redis was
    /// paused with the request in its buffer) changes nothing either and answers -2, so that no
    /// one sees a join the joining client was told failed.
    static let joinScript = ClusterScript(
        keepingKeys() + """
            local clock = redis.call('TIME')
            if clock[1] * 1000 + math.floor(clock[2] / 1000) > tonumber(ARGV[7]) then return -2 end
            local entry = ARGV[3] .. '\\0' .. ARGV[1]
            if redis.call('SISMEMBER', KEYS[5], entry) == 1 then return 0 end
            local count = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
            if count == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
            redis.call('SADD', KEYS[5], entry)
            redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
            if count > 0 then return kept(0) end
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
            redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
            redis.call('PUBLISH', ARGV[5], ARGV[6])
            announce('member_added', ARGV[3], ARGV[1])
            return kept(1)
            """)
    /// `KEYS` members, info, order, node presence, webhooks; `ARGV` user, channel, pub/sub name,
    /// the `member_removed` payload, webhooks (1/0), key lifetime (ms). 1 when the user left the
    /// cluster's channel. A leave the node already made changes nothing.
    static let leaveScript = ClusterScript(
        keepingKeys() + """
            if redis.call('SREM', KEYS[4], ARGV[2] .. '\\0' .. ARGV[1]) == 0 then return -1 end
            if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) > 0 then return 0 end
            redis.call('HDEL', KEYS[1], ARGV[1])
            redis.call('HDEL', KEYS[2], ARGV[1])
            redis.call('ZREM', KEYS[3], ARGV[1])
            redis.call('PUBLISH', ARGV[3], ARGV[4])
            announce('member_removed', ARGV[2], ARGV[1])
            return 1
            """)
    /// `KEYS` order, info: user id and info of every member, in join order.
    static let membersScript = ClusterScript(
        """
        local users = redis.call('ZRANGE', KEYS[1], 0, -1)
        local result = {}
        for _, user in ipairs(users) do
          table.insert(result, user)
          table.insert(result, redis.call('HGET', KEYS[2], user) or '')
        end
        return result
        """)
    /// `KEYS` channel's nodes, node's channels, the cluster's occupied channels (`p:channels`),
    /// webhooks; `ARGV` node, channel, 1 to occupy or 0 to vacate, webhooks (1/0), key lifetime
    /// (ms). 1 when the channel became occupied (or vacated) cluster-wide, which it announces.
    static let occupancyScript = ClusterScript(
        keepingKeys() + """
            if ARGV[3] == '1' then
              redis.call('SADD', KEYS[2], ARGV[2])
              if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 1 then
                redis.call('SADD', KEYS[3], ARGV[2])
                announce('channel_occupied', ARGV[2])
                return kept(1)
              end
              return kept(0)
            end
            redis.call('SREM', KEYS[2], ARGV[2])
            if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
              redis.call('SREM', KEYS[3], ARGV[2])
              announce('channel_vacated', ARGV[2])
              return 1
            end
            return 0
            """)
    /// `KEYS` the channel's subscriptions per node (`p:{c}:subs`); `ARGV` node, its count (a
    /// value, never a change, so that sending it again is harmless), key lifetime (ms).
    static let countScript = ClusterScript(
        """
        local count = tonumber(ARGV[2])
        if count <= 0 then
          redis.call('HDEL', KEYS[1], ARGV[1])
          return 0
        end
        redis.call('HSET', KEYS[1], ARGV[1], count)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 0
        """)
    /// `KEYS` node presence, node channels, the partition's occupied channels, then the keys of
    /// each channel of the partition the node holds (``ClusterKeys/channelKeys(_:)``); `ARGV` key
    /// lifetime (ms). Renews the lifetime of this node's keys in the partition and of the keys of
    /// every channel of it the node holds in Redis (run every third of the lifetime); asks for
    /// those it was not given (``ClusterKeys/undeclaredMark``).
    static let renewScript = ClusterScript(
        ClusterKeys.declaredChannelsLua(after: 3) + """
            local channels = redis.call('SMEMBERS', KEYS[2])
            local asked = undeclared(channels)
            if asked then return asked end
            for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
            for _, channel in ipairs(channels) do
              for part in pairs(channelPart) do redis.call('PEXPIRE', key(channel, part), ARGV[1]) end
            end
            return 0
            """)
    /// `KEYS` the partition's occupied channels, then the keys of the channels the caller knows
    /// of (``ClusterKeys/channelKeys(_:)``); `ARGV` channel-name prefix. For each occupied channel
    /// whose name starts so: its name, subscriptions on every node, users present; or the answer
    /// asking for those it was not given (``ClusterKeys/undeclaredMark``).
    static let channelsScript = ClusterScript(
        ClusterKeys.declaredChannelsLua(after: 1) + """
            local channels = {}
            for _, channel in ipairs(redis.call('SMEMBERS', KEYS[1])) do
              if string.sub(channel, 1, #ARGV[1]) == ARGV[1] then table.insert(channels, channel) end
            end
            local asked = undeclared(channels)
            if asked then return asked end
            local result = {}
            for _, channel in ipairs(channels) do
              local subscriptions = 0
              for _, count in ipairs(redis.call('HVALS', key(channel, 'subs'))) do subscriptions = subscriptions + tonumber(count) end
              table.insert(result, channel)
              table.insert(result, subscriptions)
              table.insert(result, redis.call('HLEN', key(channel, 'members')))
            end
            return result
            """)

    static let presenceScripts = [joinScript, leaveScript, membersScript, occupancyScript, countScript, channelsScript, renewScript]

    func channelKey(_ channel: String, _ part: String) -> ByteBuffer {
        keys.channelKey(channel, part)
    }

    /// What this node holds in `channel`'s partition: `presence` or `channels`.
    func nodeKey(_ part: String, of channel: String) -> ByteBuffer {
        keys.node(nodeName, part, in: keys.partition(of: channel))
    }

    /// The stream `channel`'s partition's scripts append webhook announcements to (see WebhookStream.swift).
    func webhooksKey(of channel: String) -> ByteBuffer { keys.webhooks(keys.partition(of: channel)) }

    /// When the node stops waiting for a request sent now, by Redis's clock (ms since 1970; the
    /// heartbeats measure how far it is from the node's): a script that would change what the
    /// node will have given up on checks it against `TIME`.
    private var answerDeadline: Int {
        let (seconds, attoseconds) = configuration.requestDeadline.components
        return nodes.redisMilliseconds + Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// `1` when this node's scripts announce webhooks, `0` when not.
    private var webhooksFlag: ByteBuffer { ByteBuffer(string: announcesWebhooks ? "1" : "0") }

    /// One connection of `member` on this node joined `channel`: succeeds with true once Redis
    /// admitted it (the user's first in the cluster is announced by the script), false when the
    /// channel holds its limit of users cluster-wide.
    func join(_ member: PresenceMember, channel: String, limit: Int, except: String?, from: String) -> EventLoopFuture<Bool> {
        let event = ClusterEnvelope.presenceChange(joined: true, channel: channel, member: member, except: except, from: from)
        let arguments = [
            ByteBuffer(string: member.userID), ByteBuffer(bytes: member.info ?? []), ByteBuffer(string: channel), ByteBuffer(string: String(limit)),
            ByteBuffer(string: pubSubName(channel)), event, ByteBuffer(string: String(answerDeadline)), webhooksFlag, keyLifetime,
        ]
        let keys = [
            channelKey(channel, "members"), channelKey(channel, "info"), channelKey(channel, "order"), channelKey(channel, "joins"),
            nodeKey("presence", of: channel), webhooksKey(of: channel),
        ]
        return connection.evaluate(Self.joinScript, keys: keys, arguments: arguments).flatMapThrowing { reply in
            switch reply {
            case .integer(1), .integer(0): true
            case .integer(-1): false
            case .integer(-2): throw RedisError.noReply("the join reached Redis after this node stopped waiting for it")
            default: throw RedisError.reply("the join script returned \(reply)")
            }
        }.flatMapErrorThrowing { error in
            self.unsure()
            throw error
        }
    }

    /// This node's last connection of `userID` left `channel`. The script announces the user's
    /// last leave in the cluster; when its outcome is unknown, the node re-asserts its presence.
    func leave(userID: String, channel: String, from: String) {
        let event = ClusterEnvelope.presenceChange(
            joined: false, channel: channel, member: PresenceMember(userID: userID, info: nil), except: nil, from: from)
        let keys = [
            channelKey(channel, "members"), channelKey(channel, "info"), channelKey(channel, "order"), nodeKey("presence", of: channel),
            webhooksKey(of: channel),
        ]
        let arguments = [
            ByteBuffer(string: userID), ByteBuffer(string: channel), ByteBuffer(string: pubSubName(channel)), event, webhooksFlag, keyLifetime,
        ]
        connection.evaluate(Self.leaveScript, keys: keys, arguments: arguments).whenFailure { _ in self.unsure() }
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

    /// The node gained its first (`occupied`) or lost its last subscriber of `channel`; the
    /// script announces the channel's occupied and vacated cluster-wide.
    func changeOccupancy(_ channel: String, occupied: Bool) -> EventLoopFuture<RESPValue> {
        let arguments = [
            ByteBuffer(string: nodeName), ByteBuffer(string: channel), ByteBuffer(string: occupied ? "1" : "0"), webhooksFlag, keyLifetime,
        ]
        let keys = [
            channelKey(channel, "nodes"), nodeKey("channels", of: channel), self.keys.occupiedChannels(self.keys.partition(of: channel)),
            webhooksKey(of: channel),
        ]
        return connection.evaluate(Self.occupancyScript, keys: keys, arguments: arguments)
    }

    /// Sets this node's subscription count of `channel` in Redis.
    func setSubscriptions(_ channel: String, to count: Int) -> EventLoopFuture<RESPValue> {
        connection.evaluate(
            Self.countScript, keys: [channelKey(channel, "subs")],
            arguments: [ByteBuffer(string: nodeName), ByteBuffer(string: String(count)), keyLifetime])
    }

    /// Renews the lifetime of this node's keys and of those of every channel it holds, so they
    /// last while the node does and expire ``ClusterConfiguration/keyLifetime`` after it (and
    /// every other node holding them) is gone: one script per partition, all sent at once, each
    /// given the keys of the partition's channels the node holds.
    func renewKeys() async throws {
        var held = [Set<String>](repeating: [], count: keys.partitions)
        for channel in try await heldChannels().get() { held[keys.partition(of: channel)].insert(channel) }
        let keys = self.keys
        let renewals = keys.allPartitions.map { partition in
            connection.evaluate(
                Self.renewScript,
                keys: [
                    keys.node(nodeName, "presence", in: partition), keys.node(nodeName, "channels", in: partition), keys.occupiedChannels(partition),
                ], declaring: held[partition], keysOf: keys.channelKeys, arguments: [keyLifetime])
        }
        for renewal in renewals { _ = try await renewal.get() }
    }

    /// ``ClusterConfiguration/keyLifetime`` in milliseconds, as scripts take it.
    var keyLifetime: ByteBuffer {
        ByteBuffer(
            string: String(
                configuration.keyLifetime.components.seconds * 1000 + configuration.keyLifetime.components.attoseconds / 1_000_000_000_000_000))
    }

    /// Subscriptions (on every node) and present users of each occupied channel whose name
    /// starts with `prefix`: one script per partition, all sent at once (then once more for
    /// those with channels, whose keys it declares).
    func channelCounts(prefix: String) -> EventLoopFuture<[String: (subscriptions: Int, users: Int)]> {
        let keys = self.keys
        let replies = keys.allPartitions.map { partition in
            connection.evaluate(
                Self.channelsScript, keys: [keys.occupiedChannels(partition)], declaring: [], keysOf: keys.channelKeys,
                arguments: [ByteBuffer(string: prefix)]
            )
        }
        return EventLoopFuture.whenAllSucceed(replies, on: eventLoop).map { replies in
            var counts: [String: (subscriptions: Int, users: Int)] = [:]
            for reply in replies {
                let parts = reply.elements ?? []
                for index in stride(from: 0, to: parts.count - 2, by: 3) {
                    guard let name = parts[index].string, case .integer(let subscriptions) = parts[index + 1],
                        case .integer(let users) = parts[index + 2]
                    else { continue }
                    counts[name] = (Int(subscriptions), Int(users))
                }
            }
            return counts
        }
    }
}
