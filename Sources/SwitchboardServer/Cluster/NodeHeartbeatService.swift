import Logging
import RedisClient
import ServiceLifecycle
import SwitchboardCore

/// Beats this node's entry in the cluster's registry every second with its report, announces
/// the nodes it declared dead (log and event pane), renews the lifetime of the node's keys
/// every third of ``ClusterConfiguration/keyLifetime``, re-asserts what the node holds every
/// ``RedisEngine/reassertEvery`` (or sooner, when a request's outcome was unknown), and, with
/// `max-connections-per-user`, writes the node's count of each user whose connections changed
/// (all of them with each re-assert, and after Redis lost them).
struct NodeHeartbeatService: Service {
    let hub: Hub
    let cluster: ClusterLink
    let collector: MetricsCollector
    let logger: Logger

    /// What this node's sweep removed: a dead node is told once, by this node (its users' leaves
    /// and vacated channels were announced by the sweep script itself).
    private func announce(_ change: NodeRegistry.SweptChange) {
        guard case .nodeDead(let name) = change else { return }
        logger.warning("node declared dead", metadata: ["node": "\(name)", "silent_for_s": "\(NodeRegistry.deadAfter.components.seconds)"])
        hub.events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: "node \(name) declared dead: no heartbeat for 5 s"))
        cluster.tell(.nodeDeclaredDead(name))
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            let renewEvery = cluster.configuration.keyLifetime / 3
            var renewed: ContinuousClock.Instant?
            var reasserted = ContinuousClock.now
            var userCountsUnsure = true
            while !Task.isCancelled {
                guard cluster.isUp, !hub.address.isEmpty else {
                    // Beat once the node listens and its link is up, with a report that says so.
                    try? await Task.sleep(for: .milliseconds(50))
                    continue
                }
                let report = await hub.nodeReport(collector: collector).jsonMembers
                switch await cluster.nodes.beat(report: report) {
                case .beating(let changes):
                    for change in changes { announce(change) }
                    if renewed.map({ ContinuousClock.now - $0 >= renewEvery }) ?? true, (try? await cluster.renewKeys()) != nil {
                        renewed = ContinuousClock.now
                    }
                    let due = ContinuousClock.now - reasserted >= RedisEngine.reassertEvery
                    if due { reasserted = ContinuousClock.now }
                    cluster.reassertIfNeeded(always: due)
                    if hub.gate.maxConnectionsPerUser > 0 {
                        let all = due || userCountsUnsure
                        let counts = hub.gate.takeUserCounts(all: all)
                        if all || !counts.isEmpty {
                            userCountsUnsure = (try? await cluster.writeUserCounts(counts, replacing: all)) == nil
                        }
                    }
                case .rejoin:
                    userCountsUnsure = true
                    // Quietly when Redis lost its data: the re-assert asks Redis's epoch itself.
                    cluster.reassert()
                case .failed:
                    break
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
