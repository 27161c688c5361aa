import NIOCore
import RedisClient
import SwitchboardCore

/// Fencing a channel's numbering after a Redis master change. The publish scripts number a
/// message and publish it before any replica has it, so a replica promoted by a failover may
/// stand behind what the nodes already delivered, and would hand the same `seq` to another
/// message. A node that delivered a channel through `L` runs the fence with `L` and the epoch it
/// knows: where the numbering is behind `L` (or went backwards under that epoch), the channel
/// gets a new epoch, its numbering continues after the highest `L` any node fenced with, and its
/// history (not trustworthy past the promoted replica's knowledge) starts empty — what "Redis
/// lost its data" already means here. Fencing twice, from any number of nodes, converges.
///
/// Channels without history get an epoch key of their own (no expiry, like their sequence), so
/// a failover keeps it and a Redis that lost its data does not.
extension ClusterLink {
    /// `KEYS`: sequence, epoch, stream (``historyKeys(_:)``). `ARGV`: the last `seq` the node
    /// delivered, the epoch it knows (`''`: none), a new epoch, the epoch's time to live in
    /// milliseconds (`0`: none, a channel without history), and `1` when the node saw the
    /// numbering go backwards. Answers `{seq, epoch, fenced}`.
    ///
    /// - No epoch: the numbering the node delivered from is gone (Redis lost its data, or the
    ///   epoch expired): a new epoch is taken, nothing else changes, `fenced` is 0.
    /// - Another epoch than the node knows: someone fenced, or the numbering began again, already.
    /// - The node's epoch (or none known) and the sequence behind `L`, or seen going backwards: the
    ///   sequence is raised to `L`, a new epoch is taken, the stream dropped; `fenced` is 1.
    static let fenceScript = ClusterScript(
        """
        local function newEpoch()
          if ARGV[4] == '0' then
            redis.call('SET', KEYS[2], ARGV[3])
          else
            redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
          end
          redis.call('DEL', KEYS[3])
        end
        local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
        local epoch = redis.call('GET', KEYS[2])
        if not epoch then
          newEpoch()
          return {seq, ARGV[3], 0}
        end
        if ARGV[2] ~= '' and epoch ~= ARGV[2] then return {seq, epoch, 0} end
        local last = tonumber(ARGV[1])
        if seq >= last and ARGV[5] ~= '1' then return {seq, epoch, 0} end
        if seq < last then
          seq = last
          redis.call('SET', KEYS[1], seq, 'KEEPTTL')
        end
        newEpoch()
        return {seq, ARGV[3], 1}
        """)

    /// Where a fence left a channel's numbering.
    struct FenceAnswer: Equatable, Sendable {
        /// The channel's sequence now: the next message is numbered after it.
        var seq: UInt64
        var epoch: String
        /// Whether this call gave the channel a new epoch because its numbering was reused.
        var fenced: Bool
    }

    /// Fences `channel`'s numbering for a node that delivered it through `last` in `known` (nil:
    /// the node does not know its epoch); `backwards` when the node saw a number again.
    func fence(_ channel: String, after last: UInt64, known: String?, backwards: Bool) -> EventLoopFuture<FenceAnswer> {
        let lifetime = history.isEnabled ? history.policy(for: channel).map { Self.milliseconds($0.ttl) } : nil
        let arguments = [
            ByteBuffer(string: String(last)), ByteBuffer(string: known ?? ""), ByteBuffer(string: epochs.next()),
            lifetime ?? ByteBuffer(string: "0"), ByteBuffer(string: backwards ? "1" : "0"),
        ]
        return connection.evaluate(Self.fenceScript, keys: historyKeys(channel), arguments: arguments).flatMapThrowing { reply in
            guard let parts = reply.elements, parts.count == 3, let seq = parts[0].int, let epoch = parts[1].string, let fenced = parts[2].int
            else { throw RedisError.reply("the fence script returned \(reply)") }
            return FenceAnswer(seq: UInt64(max(0, seq)), epoch: epoch, fenced: fenced == 1)
        }
    }
}
