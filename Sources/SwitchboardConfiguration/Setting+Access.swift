import SwitchboardServer

/// The limits on who may connect how often, beside `max-connections`; the passwords that open
/// the cluster's Redis, beside `redis`.
extension Setting {
    static let connectionLimits: [Setting] = [
        .integer(
            "max-connections-per-user",
            "Most connections one user (a token's sub, or the user the connect proxy named) may hold, counted on every node of a cluster; more get HTTP 429 too_many_connections. 0 is no limit",
            range: 0...10_000_000, example: 5, \.server.hub.maxConnectionsPerUser),
        .integer(
            "max-connections-per-ip",
            "Most connections open at once from one source address, on this node; more get HTTP 429 too_many_connections. 0 is no limit",
            range: 0...10_000_000, example: 100, \.server.hub.maxConnectionsPerIP),
        .rate(
            "connect-rate-per-ip",
            "New connections per second from one source address, on this node (a token bucket holding a second's worth, at least one); more get HTTP 429 rate_limited. 0 is no limit",
            example: "20", \.server.hub.connectRatePerIP),
    ]

    static let redisAccess: [Setting] = [
        .integer(
            "redis-partitions",
            "How many partitions channels are spread over in Redis: a channel's keys and pub/sub name carry its partition's hash tag (one slot), and with Redis Cluster a node resubscribes a partition at a time. Every node of a cluster must use the same number",
            range: 1...16384, example: 128, \.server.hub.cluster.partitions),
        .integer(
            "redis-ack-replicas",
            "Ack a publish only once this many Redis replicas have it (one WAIT after each pipelined batch of publishes); with it equal to the number of replicas a failover loses nothing acked. 0 acks once the master has it",
            range: 0...16, example: 1, \.server.hub.cluster.ackReplicas),
        .seconds(
            "redis-ack-timeout",
            "How long a publish waits for the replicas of --redis-ack-replicas; past it the answer is unavailable, \"may or may not have been published\"",
            example: "0.5", \.server.hub.cluster.ackTimeout),
        .text(
            "redis-password", valueName: "password", "Redis AUTH password when the --redis URL has none (with a user in the URL: an ACL user)",
            secret: true, example: "s3cret", \.server.hub.cluster.password),
        .text(
            "redis-sentinel-password", valueName: "password", "The sentinels' own password (requirepass in sentinel.conf), for redis+sentinel://",
            secret: true, example: "s3cret", \.server.hub.cluster.sentinelPassword),
    ]
}
