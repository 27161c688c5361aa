import NIOConcurrencyHelpers
import RedisClient
import SwitchboardCore
import NIOCore

extension Hub {
    /// Connects a clustered node to Redis: from now on each message Redis brings goes to its
    /// channel's owner shard, which checks its number and fans it out. Nothing to do unclustered.
    func joinCluster() {
        if let cluster {
            // Each new connection checks whether Redis still has its data; if not, what this
            // node holds is registered again before anyone notices it missing.
            cluster.connection.onReady { [unowned self] in
                Task { if await cluster.nodes.redisLostData() { self.registerAgain(quietly: true) } }
            }
        }
        cluster?.start(
            deliver: { [unowned self] channel, delivery in
                owner(of: channel).send(.clustered(channel, delivery, receivedAt: NIODeadline.now().uptimeNanoseconds))
            },
            occupancy: { [unowned self] channel, occupied in announceOccupancy(channel, occupied: occupied) },
            perform: { [unowned self] command in await performForCluster(command) })
    }

    /// Leaves the node registry and closes the Redis connections (after the drain, whose
    /// closing clients have left presence).
    func leaveCluster() async {
        guard let cluster else { return }
        await cluster.nodes.leave()
        await cluster.stop()
    }

    /// Registers this node's presence and occupancy in Redis again, after its entry vanished:
    /// announced as joins (others saw the node's users leave when it was declared dead), or
    /// `quietly` when Redis lost its data (for the others nothing changed).
    func registerAgain(quietly: Bool) {
        guard let cluster else { return }
        // Under the presence lock, so these joins reach Redis in order with the node's leaves.
        presence.withLockedValue { registry in
            for (channel, member) in registry.memberships {
                cluster.join(member, channel: channel, limit: .max, except: nil, from: cluster.nodeName, quiet: quietly).whenSuccess { outcome in
                    if outcome == .joined && !quietly { self.announceMember(added: true, userID: member.userID, channel: channel) }
                }
            }
        }
        cluster.occupyAgain(quietly: quietly)
        Task {
            for (channel, count) in await subscriberCounts(prefix: "") { cluster.setSubscriptions(channel, to: count) }
        }
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
