import NIOCore
import RedisClient

/// Where the cluster keeps everything in Redis: each key and pub/sub name is made here, and
/// nowhere else.
///
/// Channels are spread over a fixed number of partitions (`--redis-partitions`), and everything
/// of a channel carries its partition's hash tag, so that one script can number a message, keep
/// it, change presence and publish, all on one slot (which Redis Cluster requires: a script may
/// only touch keys, and `SPUBLISH` only to channels, of the slot it runs on):
///
/// ```
/// <prefix>:{<p>}{<channel>}             the channel's pub/sub name (p = CRC16(channel) mod partitions)
/// <prefix>:{<p>}{<channel>}:<part>      its keys: seq, epoch, history, members, info, order, joins, subs, nodes, idem:<key>
/// <prefix>:{<p>}:channels               the partition's occupied channels
/// <prefix>:{<p>}:node:<node>:presence   what a node holds in the partition (`channel\0user`)
/// <prefix>:{<p>}:node:<node>:channels   the partition's channels a node has subscribers for
/// <prefix>:{<p>}:webhooks               the partition's webhook announcements (a stream)
/// <prefix>:{nodes}:seen, :info, :epoch, :dead, :node:<node>:users
///                                       the node registry, under a tag of its own
/// <prefix>:{nodes}:@nodes, :@node:<node> the node bus's pub/sub names
/// ```
///
/// Channel names cannot hold braces, so the second `{…}` only delimits the name (Redis hashes
/// the first tag). The prefix cannot hold braces either (`--redis-prefix`).
///
/// Every script is given every key it touches in `KEYS`: one that acts on names it finds in
/// Redis (channels, nodes) asks for those it was not given (``declaredNamesLua(after:width:pattern:)``).
struct ClusterKeys: Sendable {
    let prefix: String
    /// How many partitions the channels are spread over: the same on every node of a cluster.
    let partitions: Int

    init(prefix: String, partitions: Int) {
        precondition(partitions > 0 && partitions <= RedisSlot.count, "partitions must be 1…\(RedisSlot.count)")
        self.prefix = prefix
        self.partitions = partitions
    }

    /// The partition `channel` belongs to.
    func partition(of channel: String) -> Int {
        RedisSlot.of(channel) % partitions
    }

    /// `<prefix>:{<p>}`: the stem of every name in partition `p`.
    func partitionStem(_ partition: Int) -> String {
        "\(prefix):{\(partition)}"
    }

    /// Every partition's number.
    var allPartitions: Range<Int> { 0..<partitions }

    // MARK: - A channel

    /// `<prefix>:{<p>}{<channel>}`. Pub/sub names are not per database in Redis, so nodes on
    /// other databases of one server must use other prefixes.
    func pubSubName(_ channel: String) -> String {
        "\(partitionStem(partition(of: channel))){\(channel)}"
    }

    /// One of `channel`'s keys: `<prefix>:{<p>}{<channel>}:<part>`.
    func channelKey(_ channel: String, _ part: String) -> ByteBuffer {
        ByteBuffer(string: pubSubName(channel) + ":" + part)
    }

    /// The parts of a channel's keys that the scripts acting on many channels at once touch, in
    /// the order ``channelKeys(_:)`` lists them.
    static let channelParts = ["members", "info", "order", "joins", "subs", "nodes"]

    /// `channel`'s keys (``channelParts``, in order): what a caller declares for each channel a
    /// script acting on many channels may touch (see ``declaredChannelsLua(after:)``).
    func channelKeys(_ channel: String) -> [ByteBuffer] {
        Self.channelParts.map { channelKey(channel, $0) }
    }

    /// The channel a pub/sub name is of; nil for any other name.
    func channel(ofPubSubName name: ByteBuffer) -> String? {
        let bytes = name.readableBytesView
        let head = prefix.utf8.count + 2  // "<prefix>:{"
        // The shortest name: "<prefix>:{0}{c}".
        guard bytes.count >= head + 5, bytes.starts(with: prefix.utf8), bytes.last == UInt8(ascii: "}"),
            let close = bytes.dropFirst(head).firstIndex(of: UInt8(ascii: "}"))
        else { return nil }
        let open = bytes.index(after: close)
        let end = bytes.index(before: bytes.endIndex)
        guard open < end, bytes[open] == UInt8(ascii: "{"), bytes.index(after: open) < end else { return nil }
        return String(decoding: bytes[bytes.index(after: open)..<end], as: UTF8.self)
    }

    // MARK: - A partition

    /// The partition's occupied channels (a set).
    func occupiedChannels(_ partition: Int) -> ByteBuffer {
        ByteBuffer(string: partitionStem(partition) + ":channels")
    }

    /// What `node` holds in the partition: `presence` (`channel\0user` pairs) or `channels`.
    func node(_ node: String, _ part: String, in partition: Int) -> ByteBuffer {
        ByteBuffer(string: "\(partitionStem(partition)):node:\(node):\(part)")
    }

    /// The stream the partition's scripts append webhook announcements to.
    func webhooks(_ partition: Int) -> ByteBuffer {
        ByteBuffer(string: partitionStem(partition) + ":webhooks")
    }

    // MARK: - The registry

    /// `<prefix>:{nodes}`: the stem of the node registry's keys and the node bus's names.
    var registryStem: String { "\(prefix):{nodes}" }

    /// One of the registry's keys: `seen`, `info`, `epoch`, `dead`, `partitions`.
    func registry(_ part: String) -> ByteBuffer {
        ByteBuffer(string: registryStem + ":" + part)
    }

    /// `node`'s count of each of its users (`max-connections-per-user`).
    func users(of node: String) -> ByteBuffer {
        ByteBuffer(string: "\(registryStem):node:\(node):users")
    }

    /// A Lua pattern that captures the node a ``users(of:)`` key is of.
    static let usersKeyPattern = "}:node:(.*):users$"

    /// The pub/sub name every node listens to for node commands.
    var busName: String { registryStem + ":@nodes" }

    /// The pub/sub name only `node` listens to (answers, trace lines).
    func directName(_ node: String) -> String { "\(registryStem):@node:\(node)" }

    /// What the node bus's names start with.
    var busNamesStart: String { registryStem + ":@" }

    // MARK: - Keys a script finds in Redis

    /// What a script answers first, with the names it found after it, when it found names whose
    /// keys it was not given; it has changed nothing. Braces: no channel name holds them.
    static let undeclaredMark = "{undeclared}"

    /// Lua for a script that touches the keys of names (channels, nodes) it finds in Redis, keys
    /// its caller declares after the script's `own` keys, `width` keys a name (see
    /// ``ClusterRedis/evaluate(_:keys:declaring:keysOf:arguments:rounds:)``): `declared[name]` is the
    /// index in `KEYS` of a declared name's first key, of which `pattern` (a Lua pattern) captures
    /// the name; `undeclared(names)` is the answer asking for those of `names` not declared, nil
    /// when all are. So a script touches no key it was not given.
    static func declaredNamesLua(after own: Int, width: Int, pattern: String) -> String {
        """
        local declared = {}
        for at = \(own + 1), #KEYS, \(width) do declared[string.match(KEYS[at], '\(pattern)')] = at end
        local function undeclared(names)
          local asked = { '\(undeclaredMark)' }
          for _, name in ipairs(names) do
            if not declared[name] then table.insert(asked, name) end
          end
          if #asked > 1 then return asked end
        end

        """
    }

    /// ``declaredNamesLua(after:width:pattern:)`` for channels, each declared with
    /// ``channelKeys(_:)``: also `key(channel, part)`, one of a declared channel's keys,
    /// `pubSubName(channel)`, its pub/sub name (its key without the part), and `split(entry)`, the
    /// two halves of an entry such as a node's presence (`channel\0user`).
    static func declaredChannelsLua(after own: Int) -> String {
        let offsets = channelParts.enumerated().map { "\($1) = \($0)" }.joined(separator: ", ")
        return declaredNamesLua(after: own, width: channelParts.count, pattern: "}{([^{}]*)}:")
            + """
            local channelPart = { \(offsets) }
            local function key(channel, part) return KEYS[declared[channel] + channelPart[part]] end
            local function pubSubName(channel) return string.match(KEYS[declared[channel]], '^(.*):[^:]*$') end
            local function split(entry)
              local cut = string.find(entry, '\\0', 1, true)
              return string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
            end

            """
    }
}
