import NIOCore
import SwitchboardCore

/// Where a hub's channel state lives: numbering and publishing, subscriptions, presence,
/// occupancy, counts, history and the other nodes. The hub, its shards and its sessions talk
/// only to this interface and never ask which implementation they have.
///
/// ```
/// sessions, APIs, console ──► Hub, shards ──► Engine
///                                             ├─ LocalEngine: the owner shard numbers, keeps history, counts (embedded default)
///                                             └─ RedisEngine: Redis scripts number, keep history, change presence and
///                                                occupancy and announce; the subscriber connection ──► owner shards
/// ```
///
/// Calls that name a shard or a session run on that shard's event loop. Presence calls run
/// under the hub's presence lock, so a node's joins and leaves of one user reach the engine in
/// the order they happened.
protocol Engine: AnyObject, Sendable {
    /// This node's name in its cluster; nil when the hub is alone.
    var nodeName: String? { get }

    /// What is wrong with the engine's link right now, for the header's health; nil when
    /// nothing is.
    var problem: String? { get }

    /// Begins serving `hub` (its shards exist): connects to whatever the engine needs.
    func start(hub: Hub)
    /// Lets go of everything `start` took (after the hub drained).
    func stop() async

    // MARK: Publishing

    /// A publish from `session`: numbered, kept and fanned out, with the ack (when `ackID` is
    /// given) in the session's request order. Returns why it was refused at once, if it was.
    func publish(_ publication: Publication, from session: Session, ackID: ByteBuffer?) -> ProtocolError?
    /// A publish from the admin API, the console or the CLI: its `seq` once accepted (or the
    /// first one's, when its idempotency key was published with before).
    func publish(_ publication: Publication, in hub: Hub) async throws(OperatorFailure) -> PublishOutcome
    /// The Pusher HTTP API's events, in order: nil once every one is accepted, or why not.
    func submit(_ publications: [Publication], in hub: Hub) async -> String?

    // MARK: Subscriptions

    /// `shard`'s subscriptions to `channel` changed; `holders` tells whether the shard just got
    /// its first subscriber (`.first`), lost its last (`.last`) or neither.
    func subscriptionsChanged(_ channel: String, on shard: HubShard, by change: Int, holders: HolderChange)
    /// Calls `then` on `shard`'s loop once the node receives `channel`'s messages and a presence
    /// join (`admission`) is decided; with `members`, the channel's members (of every node).
    func whenReceiving(
        _ channel: String, on shard: HubShard, admission: PresenceAdmission, members: Bool, then: @escaping (SubscriptionReadiness) -> Void)
    /// Runs `then` on `shard`'s loop once the node has fanned out `channel`'s messages through
    /// `seq`, so a subscription reply with that position is never followed by one of them again.
    func whenDelivered(_ channel: String, through seq: UInt64, to shard: HubShard, then: @escaping () -> Void)

    // MARK: Presence

    /// `session` joined `channel`'s presence as `member`; `firstOnNode` when it is the user's
    /// first connection on this node. Under the hub's presence lock.
    func memberJoined(_ member: PresenceMember, channel: String, firstOnNode: Bool, session: Session, limit: Int) -> PresenceAdmission
    /// The node's last connection of `userID` left `channel`. Under the hub's presence lock.
    func memberLeft(_ userID: String, channel: String, session: Session)
    /// The users present in `channel` on every node, in join order.
    func members(of channel: String, in hub: Hub) async throws(OperatorFailure) -> [PresenceMember]

    // MARK: History

    /// `channel`'s position and, with `since`, what a subscriber resuming from there gets. Nil
    /// when the channel keeps no history.
    func recovery(of channel: String, since: StreamPosition?, in hub: Hub) -> EventLoopFuture<Hub.RecoveryAnswer?>
    /// At most `limit` kept messages of `channel` after `since` (checked against `epoch` when
    /// given), or the latest ones.
    func historyPage(of channel: String, since: UInt64?, epoch: String?, limit: Int, in hub: Hub)
        -> EventLoopFuture<Result<Hub.HistoryPage, Hub.HistoryRefusal>>

    // MARK: Counts

    /// Subscriptions and present users of every channel with subscribers whose name starts
    /// with `prefix`, on every node.
    func channelCounts(prefix: String, in hub: Hub) async throws(OperatorFailure) -> [String: (subscriptions: Int, users: Int)]
    /// This node's channel rows as the admin API lists them (with every node's subscribers).
    func channelRows(_ rows: [ChannelRow], in hub: Hub) async throws(OperatorFailure) -> [ChannelRow]

    // MARK: Users

    /// Whether one more connection of `user`, which makes `localCount` of the user's
    /// connections on this node, keeps every node's total within `limit`.
    func admitUser(_ user: String, localCount: Int, limit: Int) async -> UserAdmission

    // MARK: Other nodes

    /// Does `command`'s part on this node (`here`) and has every other live node do its own:
    /// how many clients were reached or closed, and the live nodes that did not answer in time.
    func acrossNodes(_ command: NodeCommand, here: () async -> Int) async throws(OperatorFailure) -> (count: Int, missing: [String])
    /// Kicks client `id` when another node holds it; nil when it is this node's to kick.
    func kickElsewhere(_ id: String, reason: String, code: CloseCode) async -> OperatorResult?
    /// The other nodes' parts of a cluster-wide client window, and the nodes that did not answer.
    func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String])
    /// Every node of the cluster, for the console's nodes pane; nil when the hub is alone.
    func nodeRows() async -> [NodeRow]?
    /// Nodes this node declared dead.
    var nodesDeclaredDead: Int { get }

    // MARK: Traces

    /// A trace started on this node: the other nodes tap its target too and send their lines
    /// here; `ready` runs once they answered (or a deadline passed).
    func traceStarted(_ sink: TraceSink, ready: @escaping @Sendable () -> Void)
    /// The trace ended: the other nodes take their taps off.
    func traceStopped(_ sink: TraceSink)
}

/// How a shard's holding of a channel changed with a subscription.
enum HolderChange {
    /// The shard's first subscriber of the channel.
    case first
    /// The shard's last subscriber of the channel left.
    case last
    /// The shard still has subscribers, and had some before.
    case unchanged
}

/// What became of one connection's presence join.
enum PresenceAdmission {
    /// The channel holds its limit of users; nothing changed.
    case refused
    /// Present (decided and announced at once).
    case admitted
    /// Decided elsewhere: true once admitted, false when the channel is full.
    case pending(EventLoopFuture<Bool>)
}

/// Whether a user may open one more connection (`max-connections-per-user`).
enum UserAdmission: Equatable {
    case admitted
    /// The user holds the limit of connections, counted on every node.
    case tooMany
    /// The count cannot be read right now (the cluster's Redis cannot be reached).
    case unavailable
}

/// Whether a subscription is in place, as ``Engine/whenReceiving(_:on:admission:members:then:)``
/// finds it.
enum SubscriptionReadiness {
    /// Receiving the channel; with its members when they were asked for.
    case receiving(members: [PresenceMember]?)
    /// The engine cannot take subscriptions right now: the caller undoes the subscription.
    case unavailable
    /// The channel holds its limit of users.
    case presenceFull
}

extension OperatorFailure {
    /// Why nothing was done: the cluster's Redis cannot be reached (`detail` says more).
    static func redisUnreachable(_ detail: String = "") -> OperatorFailure {
        OperatorFailure(.unavailable, ProtocolError.redisUnreachable + detail)
    }
}

extension ProtocolError {
    /// The words every refusal uses while the cluster's Redis cannot be reached.
    static let redisUnreachable = "the cluster's Redis cannot be reached"

    /// A refusal while the cluster's Redis cannot be reached; `detail` follows, e.g.
    /// "; nothing was published".
    static func unavailable(_ detail: String) -> ProtocolError {
        ProtocolError(.unavailable, redisUnreachable + detail)
    }
}
