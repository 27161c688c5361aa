import Logging
import ServiceLifecycle
import SwitchboardCore

/// Beats this node's entry in the cluster's registry every second with its report, announces
/// the nodes it declared dead (log and event pane), and renews the lifetime of the node's keys
/// every third of ``ClusterConfiguration/keyLifetime``.
struct NodeHeartbeatService: Service {
    let hub: Hub
    let cluster: ClusterLink
    let collector: MetricsCollector
    let logger: Logger

    /// What this node's sweep removed: told once, by this node, as if the dead node had said it.
    private func announce(_ change: NodeRegistry.SweptChange) {
        switch change {
        case .nodeDead(let name):
            logger.warning("node declared dead", metadata: ["node": "\(name)", "silent_for_s": "\(NodeRegistry.deadAfter.components.seconds)"])
            hub.events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: "node \(name) declared dead: no heartbeat for 5 s"))
            cluster.tell(.nodeDeclaredDead(name))
        case .memberLeft(let channel, let user):
            hub.announceMember(added: false, userID: user, channel: channel)
        case .vacated(let channel):
            hub.announceOccupancy(channel, occupied: false)
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            let renewEvery = cluster.configuration.keyLifetime / 3
            var renewed: ContinuousClock.Instant?
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
                case .rejoin(let quietly):
                    hub.registerAgain(quietly: quietly)
                case .failed:
                    break
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
