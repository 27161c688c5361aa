/// Everything an operator view reads, at one moment: the one value the console, the admin
/// stream and the admin API serve.
///
/// Totals, rates and series are always complete; client rows are a window chosen by the reader
/// (``ClientQuery``), so a snapshot stays cheap at 100k connections.
public struct DashboardSnapshot: Codable, Sendable, Equatable {
    public var server: ServerInfo
    public var totals: Totals
    /// Rates over the last 1, 10 and 60 seconds.
    public var rates1s: Rates
    public var rates10s: Rates
    public var rates60s: Rates
    /// Per-second history (the last few minutes) for sparklines.
    public var series: Series
    /// Publish → write latency, microseconds.
    public var latency: LatencyStats
    public var clients: ClientWindow
    public var channels: [ChannelRow]
    public var actors: [ActorRow]
    /// The most recent lifecycle events, oldest first.
    public var events: [HubEvent]
    /// Clustered: every node of the cluster (nil for a node on its own).
    public var nodes: [NodeRow]? {
        didSet { cluster = nodes.map(ClusterTotals.init) }
    }
    /// Clustered: the figures of every live node added up (nil for a node on its own).
    public private(set) var cluster: ClusterTotals?
    /// The application proxies this node asks (nil when no `proxy-*` URL is set).
    public var proxies: [ProxyRow]?

    public init(
        server: ServerInfo, totals: Totals, rates1s: Rates = Rates(), rates10s: Rates = Rates(), rates60s: Rates = Rates(),
        series: Series = Series(), latency: LatencyStats = LatencyStats(), clients: ClientWindow = ClientWindow(),
        channels: [ChannelRow] = [], actors: [ActorRow] = [], events: [HubEvent] = []
    ) {
        self.server = server
        self.totals = totals
        self.rates1s = rates1s
        self.rates10s = rates10s
        self.rates60s = rates60s
        self.series = series
        self.latency = latency
        self.clients = clients
        self.channels = channels
        self.actors = actors
        self.events = events
    }
}

/// Who is serving.
public struct ServerInfo: Codable, Sendable, Equatable {
    public var name = "switchboard"
    public var version: String
    /// `ws://host:port/path`
    public var address: String
    public var uptimeSeconds: Double
    /// `ok`, or a short reason the hub is degraded (e.g. `draining`, `restarting metrics`).
    public var health: String

    public init(version: String, address: String, uptimeSeconds: Double, health: String = "ok") {
        self.version = version
        self.address = address
        self.uptimeSeconds = uptimeSeconds
        self.health = health
    }
}

/// Counters since start, and gauges read from live state when the snapshot was taken.
public struct Totals: Codable, Sendable, Equatable {
    // Gauges.
    public var connections = 0
    public var subscriptions = 0
    public var channels = 0
    /// Sum of every actor's mailbox depth.
    public var mailboxDepth = 0
    // Counters.
    public var connects = 0
    public var disconnects = 0
    public var messagesIn = 0
    public var messagesOut = 0
    public var bytesIn = 0
    public var bytesOut = 0
    public var published = 0
    public var deliveries = 0
    public var kicks = 0
    public var slowConsumerCloses = 0
    public var errors = 0
    public var restarts = 0
    /// Lifecycle events the collector could not take because its mailbox was full.
    public var eventsDropped = 0
    /// Clustered: gaps in a channel's numbering this node noticed (a Redis reconnect, a cut
    /// subscriber connection), whether history filled them or not.
    public var gaps = 0
    /// Clustered: messages published in the cluster that never reached this node.
    public var messagesLost = 0
    /// Clustered: times a channel's numbering began again here (Redis lost its data).
    public var numberingRestarts = 0
    /// Clustered: nodes this node declared dead (and removed).
    public var nodesDeclaredDead = 0
    /// Subscriptions that resumed with `since` and got every missed message.
    public var recovered = 0
    /// Subscriptions that asked to resume and could not (epoch changed, messages gone).
    public var notRecovered = 0
    /// Kept messages evicted by the history byte cap.
    public var historyEvictions = 0
    /// Clustered: missed messages delivered late from history instead of reported lost.
    public var gapsFilled = 0
    /// Bytes all channels' histories hold now (a gauge).
    public var historyBytes = 0
    /// Traces running on this node now (a gauge).
    public var traces = 0

    public init() {}
}

/// One node of a cluster, as `GET /api/nodes` and the console's nodes pane show it.
public struct NodeRow: Codable, Sendable, Equatable {
    public var name: String
    /// `alive`, or `dead` until a survivor has removed it; while the reporting node cannot
    /// reach Redis, `down` for itself and `?` for the others (as last read).
    public var state: String
    public var heartbeatAgeMilliseconds: Int
    public var address: String
    public var connections: Int
    public var mailboxDepth: Int
    public var messagesInPerSecond: Double
    public var messagesOutPerSecond: Double
    /// The node's last heartbeat round trip to Redis.
    public var redisRoundTripMilliseconds: Double?
    public var redisUp: Bool
    /// The Redis server the node talks to and what it is: `127.0.0.1:6380 master, 1 replica
    /// (lag 0 s)` (nil before the node has said).
    public var redisServer: String?
    /// With Redis Cluster: each master the node talks to (nil otherwise).
    public var redisShards: [ShardRow]?

    public init(
        name: String, state: String, heartbeatAgeMilliseconds: Int, address: String, connections: Int, mailboxDepth: Int,
        messagesInPerSecond: Double, messagesOutPerSecond: Double, redisRoundTripMilliseconds: Double?, redisUp: Bool,
        redisServer: String? = nil, redisShards: [ShardRow]? = nil
    ) {
        self.name = name
        self.state = state
        self.heartbeatAgeMilliseconds = heartbeatAgeMilliseconds
        self.address = address
        self.connections = connections
        self.mailboxDepth = mailboxDepth
        self.messagesInPerSecond = messagesInPerSecond
        self.messagesOutPerSecond = messagesOutPerSecond
        self.redisRoundTripMilliseconds = redisRoundTripMilliseconds
        self.redisUp = redisUp
        self.redisServer = redisServer
        self.redisShards = redisShards
    }
}

/// One master of the Redis Cluster a node runs on, as that node's connections to it stand: a
/// row under the node's in the nodes pane.
public struct ShardRow: Codable, Sendable, Equatable {
    /// `host:port`.
    public var address: String
    /// `master`.
    public var role: String
    /// The request connection's last `PING` round trip (nil before the first, and while down).
    public var roundTripMicroseconds: Int?
    /// Requests sent to the master and not yet answered.
    public var pending: Int
    /// Whether the request connection is up.
    public var up: Bool
    /// Whether the subscriber connection (`SSUBSCRIBE`) is up.
    public var subscriberUp: Bool

    public init(address: String, role: String, roundTripMicroseconds: Int?, pending: Int, up: Bool, subscriberUp: Bool) {
        self.address = address
        self.role = role
        self.roundTripMicroseconds = roundTripMicroseconds
        self.pending = pending
        self.up = up
        self.subscriberUp = subscriberUp
    }
}

/// The cluster's figures: every live node's, added up from their heartbeats (each about a
/// second old), and how many nodes are alive and dead.
public struct ClusterTotals: Codable, Sendable, Equatable {
    public var nodesAlive = 0
    /// Nodes that stopped heartbeating and are not yet cleaned up.
    public var nodesDead = 0
    public var connections = 0
    public var mailboxDepth = 0
    public var messagesInPerSecond = 0.0
    public var messagesOutPerSecond = 0.0

    public init(nodes: [NodeRow]) {
        for node in nodes {
            guard node.state == "alive" else {
                // `down` and `?`: this node cannot reach Redis, so nobody's state is known.
                if node.state == "dead" { nodesDead += 1 }
                continue
            }
            nodesAlive += 1
            connections += node.connections
            mailboxDepth += node.mailboxDepth
            messagesInPerSecond += node.messagesInPerSecond
            messagesOutPerSecond += node.messagesOutPerSecond
        }
    }
}

/// One application proxy (`proxy-connect-url`, …): how often it is asked, how slow it answers
/// and how often it gives no usable answer.
public struct ProxyRow: Codable, Sendable, Equatable {
    /// `connect`, `subscribe`, `publish` or `refresh`.
    public var proxy: String
    /// Questions asked since start, sent or refused before leaving.
    public var requests: Int
    /// Questions without a usable answer since start (timeouts, 5xx, open circuit, …).
    public var failures: Int
    /// 99th percentile of the sent requests' durations since start, microseconds.
    public var p99: UInt64
    /// Whether the circuit breaker refuses right now.
    public var circuitOpen: Bool
    /// Questions per second (filled in by the metrics collector).
    public var rate = 0.0

    public init(proxy: String, requests: Int, failures: Int, p99: UInt64, circuitOpen: Bool) {
        self.proxy = proxy
        self.requests = requests
        self.failures = failures
        self.p99 = p99
        self.circuitOpen = circuitOpen
    }
}

/// Latency percentiles in microseconds.
public struct LatencyStats: Codable, Sendable, Equatable {
    public var count: UInt64 = 0
    public var p50: UInt64 = 0
    public var p90: UInt64 = 0
    public var p99: UInt64 = 0
    public var p999: UInt64 = 0
    public var max: UInt64 = 0

    public init(count: UInt64 = 0, p50: UInt64 = 0, p90: UInt64 = 0, p99: UInt64 = 0, p999: UInt64 = 0, max: UInt64 = 0) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }
}

/// One client, as operators see it.
public struct ClientRow: Codable, Sendable, Equatable {
    public var id: String
    public var remoteAddress: String
    public var userAgent: String
    /// Wall-clock seconds since 1970.
    public var connectedAt: Double
    /// Wall-clock seconds since 1970 of the last frame received.
    public var lastActivity: Double
    public var channels: [String]
    public var messagesIn: Int
    public var messagesOut: Int
    public var bytesIn: Int
    public var bytesOut: Int
    /// Messages per second in + out over the last collector tick.
    public var rate: Double
    public var mailbox: MailboxCounts
    public var mailboxCapacity: Int
    /// The Pusher app id, for clients speaking the Pusher protocol (nil: native).
    public var pusherApp: String?
    /// The Pusher socket id, for clients speaking the Pusher protocol.
    public var socketID: String?
    /// Who the client is: the token's `sub`, a Pusher signed-in user, or the presence user ids.
    public var user: String?
    /// `open`, or `closing` while its close handshake runs (a kick, a slow consumer, a
    /// shutdown: its close frame is on its way and the peer has `close-timeout` to answer).
    public var state = ClientState.open
    /// While closing: the close code and reason it is closing with.
    public var closeCode: Int?
    public var closeReason: String?
    /// Clustered: the node the client is connected to.
    public var node: String?

    /// Whether a client is still served or on its way out.
    public enum ClientState: String, Codable, Sendable {
        case open
        case closing
    }

    public init(
        id: String, remoteAddress: String, userAgent: String, connectedAt: Double, lastActivity: Double, channels: [String],
        messagesIn: Int, messagesOut: Int, bytesIn: Int, bytesOut: Int, rate: Double, mailbox: MailboxCounts, mailboxCapacity: Int,
        pusherApp: String? = nil, socketID: String? = nil, user: String? = nil
    ) {
        self.pusherApp = pusherApp
        self.socketID = socketID
        self.user = user
        self.id = id
        self.remoteAddress = remoteAddress
        self.userAgent = userAgent
        self.connectedAt = connectedAt
        self.lastActivity = lastActivity
        self.channels = channels
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.rate = rate
        self.mailbox = mailbox
        self.mailboxCapacity = mailboxCapacity
    }
}

/// The rows of a ``ClientQuery``, and how many clients matched in all.
public struct ClientWindow: Codable, Sendable, Equatable {
    public var total = 0
    public var offset = 0
    public var rows: [ClientRow] = []
    /// Clustered: true when some live node did not answer in time (its clients are missing).
    public var partial: Bool?
    /// The nodes that did not answer.
    public var missing: [String]?

    public init(total: Int = 0, offset: Int = 0, rows: [ClientRow] = []) {
        self.total = total
        self.offset = offset
        self.rows = rows
    }
}

/// One channel.
public struct ChannelRow: Codable, Sendable, Equatable {
    public var name: String
    /// Subscribers on this node; in the admin API of a clustered node, on every node.
    public var subscribers: Int
    /// In the admin API of a clustered node: the subscribers on this node (nil elsewhere).
    public var nodeSubscribers: Int?
    /// Messages published per second (last collector tick).
    public var messageRate: Double
    public var published: Int
    /// Messages its history holds; nil when the channel keeps no history.
    public var history: Int?
    /// The epoch of its history, when it keeps one.
    public var epoch: String?

    public init(name: String, subscribers: Int, messageRate: Double, published: Int, history: Int? = nil, epoch: String? = nil) {
        self.name = name
        self.subscribers = subscribers
        self.messageRate = messageRate
        self.published = published
        self.history = history
        self.epoch = epoch
    }
}

/// One actor and its mailbox.
public struct ActorRow: Codable, Sendable, Equatable {
    public var name: String
    public var kind: ActorKind
    public var depth: Int
    public var peak: Int
    public var capacity: Int
    public var processedPerSecond: Double
    public var processed: Int
    public var dropped: Int
    public var restarts: Int

    public init(
        name: String, kind: ActorKind, depth: Int, peak: Int, capacity: Int, processedPerSecond: Double, processed: Int, dropped: Int, restarts: Int
    ) {
        self.name = name
        self.kind = kind
        self.depth = depth
        self.peak = peak
        self.capacity = capacity
        self.processedPerSecond = processedPerSecond
        self.processed = processed
        self.dropped = dropped
        self.restarts = restarts
    }
}

/// Which client rows a reader wants.
public struct ClientQuery: Codable, Sendable, Hashable {
    /// Sort keys for the client table.
    public enum SortKey: String, Codable, Sendable, CaseIterable {
        case id, remote, age, idle, channels
        case messagesIn = "msgs_in"
        case messagesOut = "msgs_out"
        case rate, mailbox
    }

    public var sort = SortKey.id
    public var descending = false
    /// Case-insensitive substring of id, remote address, user agent or a channel name.
    public var filter = ""
    /// Only clients subscribed to this channel.
    public var channel: String?
    /// Only the client with this id.
    public var id: String?
    /// Only the connections of this user (exactly: a token's `sub` or a Pusher signed-in user).
    public var user: String?
    public var offset = 0
    public var limit = 50
    /// The most rows an operator's window (the admin API, the admin stream) may ask for.
    public static let mostRowsPerWindow = 10_000

    public init(
        sort: SortKey = .id, descending: Bool = false, filter: String = "", channel: String? = nil, id: String? = nil, user: String? = nil,
        offset: Int = 0, limit: Int = 50
    ) {
        self.sort = sort
        self.descending = descending
        self.filter = filter
        self.channel = channel
        self.id = id
        self.user = user
        self.offset = offset
        self.limit = limit
    }

    /// Decodes any subset of the fields; the rest keep their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sort = try container.decodeIfPresent(SortKey.self, forKey: .sort) ?? .id
        descending = try container.decodeIfPresent(Bool.self, forKey: .descending) ?? false
        filter = try container.decodeIfPresent(String.self, forKey: .filter) ?? ""
        channel = try container.decodeIfPresent(String.self, forKey: .channel)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        offset = max(0, try container.decodeIfPresent(Int.self, forKey: .offset) ?? 0)
        // Not capped here: readers' windows are capped where they come in (HTTP, admin stream).
        limit = max(0, try container.decodeIfPresent(Int.self, forKey: .limit) ?? 50)
    }

    /// Whether `row` passes the id, filter and channel conditions.
    public func matches(_ row: ClientRow) -> Bool {
        if let wanted = user, row.user != wanted { return false }
        return matches(
            id: row.id, remoteAddress: row.remoteAddress, userAgent: row.userAgent, channels: row.channels, socketID: row.socketID,
            user: row.user)
    }

    /// Whether a client with these figures passes the id, filter and channel conditions; `user`
    /// is only asked for while a filter is set.
    public func matches(
        id: String, remoteAddress: String, userAgent: String, channels: [String], socketID: String?, user: @autoclosure () -> String?
    ) -> Bool {
        if let wanted = self.id, wanted != id { return false }
        if let channel, !channels.contains(channel) { return false }
        guard !filter.isEmpty else { return true }
        // The usual filter is ASCII: compared byte by byte, with nothing lowercased or allocated
        // per client (this runs for every client of a node on each snapshot of a filtered view).
        let ascii = filter.utf8.allSatisfy { $0 < 0x80 }
        let needle = ascii ? filter : filter.lowercased()
        func contains(_ text: String) -> Bool {
            ascii ? Self.contains(text, ignoringASCIICase: needle) : text.lowercased().contains(needle)
        }
        return contains(id) || contains(remoteAddress) || contains(userAgent) || channels.contains(where: contains)
            || (user().map(contains) ?? false) || (socketID.map(contains) ?? false)
    }

    /// Whether `text` contains `needle` (ASCII), letters compared without case.
    static func contains(_ text: String, ignoringASCIICase needle: String) -> Bool {
        var text = text
        var needle = needle
        return text.withUTF8 { haystack in
            needle.withUTF8 { needle in
                guard let first = needle.first.map(lowercase) else { return true }
                guard needle.count <= haystack.count else { return false }
                for start in 0...(haystack.count - needle.count) where lowercase(haystack[start]) == first {
                    var matched = 1
                    while matched < needle.count, lowercase(haystack[start + matched]) == lowercase(needle[matched]) { matched += 1 }
                    if matched == needle.count { return true }
                }
                return false
            }
        }
    }

    private static func lowercase(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    /// Client ids compare by length first, so c9 sorts before c10.
    static func idOrder(_ a: String, _ b: String) -> Bool? {
        if a == b { return nil }
        if a.utf8.count != b.utf8.count { return a.utf8.count < b.utf8.count }
        return a < b
    }

    /// Applies filter, sort and window to `rows` (all of them sorted: for tests and small lists;
    /// the servers find windows by ``ClientOrderKey``s).
    public func window(_ rows: [ClientRow]) -> ClientWindow {
        let matching = rows.filter(matches).map { ($0.sortFields, $0) }.sorted { orders($0.0, before: $1.0) }.map(\.1)
        let start = min(max(0, offset), matching.count)
        return ClientWindow(total: matching.count, offset: start, rows: Array(matching[start..<min(matching.count, start + max(0, limit))]))
    }
}
