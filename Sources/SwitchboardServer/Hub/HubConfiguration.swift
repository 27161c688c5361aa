public import SwitchboardCore

/// Limits and timings of the hub. Every queue, size and rate here has a bound; the defaults are
/// what a production deployment should start from.
public struct HubConfiguration: Sendable {
    /// What happens when a client's outbound mailbox is full.
    public enum SlowConsumerPolicy: String, Sendable, CaseIterable {
        /// Close the client with 4002 "slow consumer" and free its queue at once.
        case close
        /// Discard the oldest queued frames to make room (the client misses messages).
        case dropOldest = "drop-oldest"
    }

    /// Largest text message a client may send, in bytes (larger: close 1009).
    public var maxMessageBytes = 64 * 1024
    /// Most WebSocket connections at once; further upgrades get HTTP 503.
    public var maxConnections = 100_000
    /// Most connections one user (a token's `sub`) may hold, counted on every node of a
    /// cluster; further upgrades get HTTP 429. 0 is no limit.
    public var maxConnectionsPerUser = 0
    /// Most connections open at once from one source address, on this node (HTTP 429); 0 is no limit.
    public var maxConnectionsPerIP = 0
    /// New connections per second from one source address, on this node (a token bucket
    /// holding a second's worth; HTTP 429 beyond it); 0 is no limit.
    public var connectRatePerIP = 0.0
    /// Most traces running at once on this node; one more is refused with 429 `too_many_traces`.
    public var maxTraces = 16
    /// Most lines per second one trace sends; beyond it `trace_skipped` counts the rest.
    public var traceRate = 2000.0
    /// How much of a traced message's data a trace line keeps.
    public var tracePayloads = TracePayloads.truncated
    /// How long a trace runs before it ends by itself (`trace_ended` reason `timeout`).
    public var traceTimeout = Duration.seconds(600)
    /// Outbound mailbox bound per client, in frames.
    public var outboundQueueFrames = 1024
    /// Outbound mailbox bound per client, in bytes.
    public var outboundQueueBytes = 1024 * 1024
    /// What a full outbound mailbox does.
    public var slowConsumerPolicy = SlowConsumerPolicy.close
    /// WebSocket ping interval; a client still silent an interval after its ping is closed with 1001.
    public var heartbeatInterval = Duration.seconds(15)
    /// Most channels one client may be subscribed to.
    public var maxChannelsPerClient = 128
    /// Most distinct users present in one channel joined with the native `"presence":true`.
    public var maxPresenceMembers = 1000
    /// The Pusher Channels apps served on `/app/{key}` and `/apps/{id}/…` (none by default).
    public var pusherApps: [PusherApp] = []
    /// Publishes per second per client (token bucket refill); 0 disables the limit.
    public var publishRate = 50_000.0
    /// Token bucket size: how many publishes a client may burst.
    public var publishBurst = 50_000.0
    /// Bound of each hub shard's inbox (cross-thread publishes and deliveries).
    public var shardInboxCapacity = 65_536
    /// How long a closing client has to answer our close frame before the socket is closed.
    public var closeTimeout = Duration.seconds(5)
    /// How long graceful shutdown waits for queued messages to be delivered.
    public var shutdownDeadline = Duration.seconds(5)

    /// The keys and claims of client tokens; when any key is set, the hub's path admits only
    /// clients with a valid JWT (`sub` becomes their user id, an optional `channels` claim limits
    /// their channels, `exp` makes the connection expire).
    public var clientTokens = ClientTokenConfiguration()
    /// How long a client whose token expired has, after `refresh_required`, to send `refresh`
    /// with a new token before it is closed with 4003 "expired".
    public var refreshGrace = Duration.seconds(10)

    /// Which channels keep their recent messages for reconnecting clients (none by default).
    public var history = HistorySettings()
    /// How long a publish's `idempotency_key` is remembered: a second publish with the same key
    /// to the same channel within it is answered with the first one's `seq` and not sent again.
    public var idempotencyTTL = Duration.seconds(300)

    /// How the node joins a cluster of nodes; by default it does not.
    public var cluster = ClusterConfiguration()

    /// Which questions the hub asks the application's backend; by default none.
    public var proxy = ProxyConfiguration()

    /// Test-only: lets a client make its session fail on purpose and the admin API make the
    /// metrics actor fail, to prove supervision. Never on in production.
    public var faultInjection = false

    public init() {}
}
