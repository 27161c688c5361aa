import RedisClient
import SwitchboardCore
import NIOCore

extension Hub {
    /// Connects a clustered node to Redis: from now on each message Redis brings goes to its
    /// channel's owner shard, which checks its number and fans it out. Nothing to do unclustered.
    func joinCluster() {
        cluster?.start(
            deliver: { [unowned self] channel, delivery in
                owner(of: channel).send(.clustered(channel, delivery, receivedAt: NIODeadline.now().uptimeNanoseconds))
            },
            occupancy: { [unowned self] channel, occupied in announceOccupancy(channel, occupied: occupied) })
    }

    /// Closes the Redis connections (after the drain).
    func leaveCluster() async {
        await cluster?.stop()
    }
}

extension Hub {
    /// What this node says of itself (heartbeat, `GET /api/nodes`).
    func nodeReport(collector: MetricsCollector) async -> NodeReport {
        NodeReport(
            address: address, uptimeSeconds: uptimeSeconds, totals: await collector.totals(), rates: await collector.rates(over: 10),
            link: linkFigures)
    }

    /// The Redis link's figures; nil when the node is not clustered.
    var linkFigures: NodeReport.LinkFigures? {
        cluster.map { cluster in
            let status = cluster.connection.status
            return NodeReport.LinkFigures(
                up: status.isUp, roundTripMilliseconds: cluster.nodes.roundTripMilliseconds, pending: status.pending, reconnects: status.reconnects,
                subscriberUp: cluster.subscriber.isUp, lastError: status.lastError)
        }
    }

    /// `{"nodes":[…]}`: every node of the cluster from Redis, or this one alone.
    func nodesJSON(collector: MetricsCollector) async throws(OperatorFailure) -> String {
        let entries: [NodeRegistry.Entry]
        if let cluster {
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
