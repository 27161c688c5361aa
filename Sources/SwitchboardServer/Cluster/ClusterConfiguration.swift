public import RedisClient
import Foundation

/// How a node joins a cluster of nodes that share one Redis. Without ``redis`` the node is alone
/// and the in-process hub does everything, as fast as it always was.
public struct ClusterConfiguration: Sendable {
    /// The Redis every node of the cluster uses (`--redis`); nil: no cluster.
    public var redis: RedisAddress?
    /// Redis `AUTH` password when the URL has none (`--redis-password`).
    public var password: String?
    /// The sentinels' password (`--redis-sentinel-password`).
    public var sentinelPassword: String?

    /// ``redis`` with the passwords given apart from its URL.
    public var address: RedisAddress? {
        guard var address = redis else { return nil }
        if address.password == nil { address.password = password }
        address.sentinelPassword = sentinelPassword ?? address.sentinelPassword
        return address
    }
    /// Namespaces every key and pub/sub name (`--redis-prefix`): nodes with different prefixes
    /// are different clusters, even on one Redis.
    public var prefix = "switchboard"
    /// How many partitions the channels are spread over in Redis (`--redis-partitions`; see
    /// `ClusterKeys`): a channel's keys and pub/sub name carry its partition's hash tag, and with
    /// Redis Cluster a node resubscribes and re-asserts a partition at a time. Every node of a
    /// cluster must use the same number.
    public var partitions = 64
    /// Names this node in logs, the API and the console (`--node-name`); nil: host name and port.
    public var nodeName: String?
    /// How many replicas must have a publish before it is acked (`--redis-ack-replicas`): one
    /// `WAIT` after each pipelined batch of publishes. 0: acked once the master has it.
    public var ackReplicas = 0
    /// How long that `WAIT` waits (`--redis-ack-timeout`); past it the publish is answered
    /// `unavailable`, "may or may not have been published".
    public var ackTimeout = Duration.seconds(1)
    /// How long a request to Redis may wait for its reply before the link is dropped and dialed again.
    public var requestDeadline = Duration.seconds(2)
    /// How long the cluster's keys (node entries, presence, occupancy, counts) outlive the last
    /// node that keeps them: each node renews its keys every third of it, so when every node is
    /// gone they expire on their own.
    public var keyLifetime = Duration.seconds(60)

    public init() {}

    /// ``nodeName``, or the host name and `port` (with the process id when the port is picked
    /// at start, so that such nodes do not share a name).
    public func resolvedNodeName(port: Int) -> String {
        nodeName ?? "\(ProcessInfo.processInfo.hostName):\(port == 0 ? "0-\(ProcessInfo.processInfo.processIdentifier)" : String(port))"
    }
}
