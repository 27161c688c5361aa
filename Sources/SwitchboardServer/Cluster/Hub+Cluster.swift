import NIOCore
import RedisClient
import SwitchboardCore

extension Hub {
    /// The link to the cluster's Redis, when the hub runs on the Redis engine (for the node's
    /// services and reports, never for the hub's own decisions).
    var clusterLink: ClusterLink? { (engine as? RedisEngine)?.link }

    /// What this node says of itself (heartbeat, `GET /api/nodes`).
    func nodeReport(collector: MetricsCollector) async -> NodeReport {
        NodeReport(
            address: address, uptimeSeconds: uptimeSeconds, totals: await collector.totals(), rates: await collector.rates(over: 10),
            link: linkFigures)
    }

    /// The Redis link's figures; nil when the node is not clustered.
    var linkFigures: NodeReport.LinkFigures? {
        clusterLink.map { cluster in
            let status = cluster.connection.status
            return NodeReport.LinkFigures(
                up: status.isUp, roundTripMilliseconds: cluster.nodes.roundTripMilliseconds, pending: status.pending, reconnects: status.reconnects,
                subscriberUp: cluster.subscriber.isUp, lastError: status.lastError, server: status.server,
                replication: status.isUp ? cluster.nodes.replication : nil, shards: cluster.connection.shards(subscriber: cluster.subscriber))
        }
    }

    /// `{"nodes":[…]}`: every node of the cluster from Redis, or this one alone.
    func nodesJSON(collector: MetricsCollector) async throws(OperatorFailure) -> String {
        let entries: [NodeRegistry.Entry]
        if let cluster = clusterLink {
            entries = try await cluster.nodes.nodes()
        } else {
            let name = configuration.cluster.nodeName ?? "local"
            entries = [
                NodeRegistry.Entry(
                    name: name, alive: true, heartbeatAgeMilliseconds: 0, incarnation: "", report: await nodeReport(collector: collector).jsonMembers)
            ]
        }
        return "{\"nodes\":[" + entries.map(\.json).joined(separator: ",") + "]}"
    }
}
