import NIOCore
import RedisClient
import SwitchboardCore

/// A clustered channel's history, kept in Redis: a stream `<prefix>:{<p>}{<channel>}:history` whose
/// entries are the pub/sub payloads (`seq\n` and the envelope) under the ids `<seq>-0`, trimmed to
/// about the channel's size (`MAXLEN ~`: Redis drops whole nodes of about 100 entries, so a stream
/// holds at least the size and a little more, for far less work per publish), and the channel's epoch `…{<channel>}:epoch`. The publish script
/// that numbers a message also appends it, so a message is in history if and only if it was
/// published; both keys expire the time to live after the last publish, and an epoch that is
/// gone (expired, or Redis lost its data) is replaced by a new one and an empty stream.
extension ClusterLink {
    /// `KEYS`: sequence, epoch, stream. `ARGV`: pub/sub name, envelope, size, time to live in
    /// milliseconds, an epoch to use if the channel has none. With an idempotency key, `KEYS[4]`
    /// and `ARGV[6]` as in ``ClusterLink/publishScript``, and the same answer.
    static let publishKeepingScript = ClusterScript(
        """
        if KEYS[4] then
          local first = redis.call('GET', KEYS[4])
          if first then return -tonumber(first) end
        end
        local seq = redis.call('INCR', KEYS[1])
        if redis.call('SET', KEYS[2], ARGV[5], 'NX', 'PX', ARGV[4]) then
          redis.call('DEL', KEYS[3])
        else
          redis.call('PEXPIRE', KEYS[2], ARGV[4])
        end
        local payload = seq .. '\\n' .. ARGV[2]
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'm', payload)
        redis.call('PEXPIRE', KEYS[3], ARGV[4])
        redis.call('PUBLISH', ARGV[1], payload)
        if KEYS[4] then redis.call('SET', KEYS[4], seq, 'PX', ARGV[6]) end
        return seq
        """)

    /// Reads a channel's position and kept messages in one step. `KEYS`: sequence, epoch, stream.
    /// `ARGV`: an epoch to use if the channel has none, time to live in milliseconds, mode, since
    /// (`''` for none), the epoch `since` belongs to (`''`: not checked), limit, the history size.
    ///
    /// Modes: `position` (no messages); `recover` (every message after `since`, or nothing and
    /// 0 when one is gone, older than the size, or the epoch differs); `page` (at most `limit`
    /// after `since`, or the latest `limit`; 0 when `since` cannot be served whole); `range` (at
    /// most `limit` after `since`, whatever the stream still holds: a gap being filled). Answers
    /// `{seq, epoch, ok, payload…}`.
    static let historyScript = ClusterScript(
        """
        local epoch = redis.call('GET', KEYS[2])
        if not epoch then
          epoch = ARGV[1]
          redis.call('SET', KEYS[2], epoch, 'PX', ARGV[2])
          redis.call('DEL', KEYS[3])
        end
        local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
        local mode = ARGV[3]
        local answer = {seq, epoch, 1}
        if mode == 'position' then return answer end
        local limit = tonumber(ARGV[6])
        local entries
        if ARGV[4] == '' then
          entries = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', limit)
          for i = #entries, 1, -1 do answer[#answer + 1] = entries[i][2][2] end
          return answer
        end
        local since = tonumber(ARGV[4])
        -- The stream is trimmed approximately; history is exactly the last `size` (ARGV[7]).
        local size = tonumber(ARGV[7])
        if (ARGV[5] ~= '' and ARGV[5] ~= epoch) or since > seq or (mode ~= 'range' and seq - since > size) then
          answer[3] = 0
          return answer
        end
        if since == seq then return answer end
        local wanted = seq - since
        if mode ~= 'recover' and limit < wanted then wanted = limit end
        entries = redis.call('XRANGE', KEYS[3], (since + 1) .. '-0', '+', 'COUNT', wanted)
        if #entries ~= wanted or entries[1][1] ~= (since + 1) .. '-0' then
          answer[3] = 0
          return answer
        end
        for _, entry in ipairs(entries) do answer[#answer + 1] = entry[2][2] end
        return answer
        """)

    /// What to read of a channel's history.
    enum HistoryRead {
        /// Only the position (a `subscribed` reply).
        case position
        /// Every message after a position, or nothing.
        case recover(StreamPosition)
        /// At most `limit` messages after `since` (in `epoch`, when given), or the latest.
        case page(since: UInt64?, epoch: String?, limit: Int)
        /// The messages after `seq`, up to `count` of them (filling a gap; no epoch check).
        case range(after: UInt64, count: Int)
    }

    /// A channel's position and the messages read, oldest first; `complete` is false when what
    /// was asked for cannot be served whole (nothing is returned then).
    struct HistoryAnswer: Sendable {
        var position: StreamPosition
        var complete: Bool
        var messages: [(seq: UInt64, publication: Publication)]

        /// The messages as native frames.
        func entries(_ allocator: ByteBufferAllocator) -> [ChannelHistory.Entry] {
            messages.map { ChannelHistory.Entry(seq: $0.seq, frame: $0.publication.nativeFrame(seq: $0.seq, allocator: allocator)) }
        }
    }

    /// A channel's sequence, epoch and stream (the fence uses them for every channel).
    func historyKeys(_ channel: String) -> [ByteBuffer] {
        [sequenceKey(channel), keys.channelKey(channel, "epoch"), keys.channelKey(channel, "history")]
    }

    static func milliseconds(_ duration: Duration) -> ByteBuffer {
        let (seconds, attoseconds) = duration.components
        return ByteBuffer(string: String(max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)))
    }

    /// Numbers `publication`, keeps it in its channel's stream under `policy` and publishes it:
    /// ``publish(_:)`` for a channel with history.
    func publish(_ publication: Publication, keeping policy: HistoryPolicy) -> EventLoopFuture<PublishOutcome> {
        guard let envelope = ClusterEnvelope.encode(publication) else {
            return eventLoop.makeFailedFuture(RedisError.reply("only messages are published through Redis"))
        }
        let (keys, arguments) = withIdempotencyKey(
            publication, keys: historyKeys(publication.channel),
            arguments: [
                ByteBuffer(string: pubSubName(publication.channel)), envelope, ByteBuffer(string: String(policy.size)),
                Self.milliseconds(policy.ttl), ByteBuffer(string: epochs.next()),
            ])
        return connection.evaluate(Self.publishKeepingScript, keys: keys, arguments: arguments, durable: true).flatMapThrowing(Self.outcome)
    }

    /// Reads `channel`'s history (kept under `policy`) as `read` asks.
    func readHistory(_ channel: String, policy: HistoryPolicy, _ read: HistoryRead) -> EventLoopFuture<HistoryAnswer> {
        let (mode, since, epoch, limit): (String, String, String, Int) =
            switch read {
            case .position: ("position", "", "", 0)
            case .recover(let position): ("recover", String(position.seq), position.epoch, 0)
            case .page(let since, let epoch, let limit): ("page", since.map { String($0) } ?? "", epoch ?? "", min(limit, policy.size))
            case .range(let after, let count): ("range", String(after), "", count)
            }
        let arguments =
            [ByteBuffer(string: epochs.next()), Self.milliseconds(policy.ttl)]
            + [mode, since, epoch, String(limit), String(policy.size)].map { ByteBuffer(string: $0) }
        return connection.evaluate(Self.historyScript, keys: historyKeys(channel), arguments: arguments).flatMapThrowing { reply in
            guard let parts = reply.elements, parts.count >= 3, let seq = parts[0].int, let epoch = parts[1].string, let ok = parts[2].int
            else { throw RedisError.reply("the history script returned \(reply)") }
            var messages: [(seq: UInt64, publication: Publication)] = []
            for part in parts.dropFirst(3) {
                guard case .bulkString(let payload?) = part, case .message(let seq, let publication)? = ClusterEnvelope.decode(payload) else {
                    throw RedisError.reply("a history entry no node wrote")
                }
                messages.append((seq, publication))
            }
            return HistoryAnswer(position: StreamPosition(seq: UInt64(max(0, seq)), epoch: epoch), complete: ok == 1, messages: messages)
        }
    }
}
