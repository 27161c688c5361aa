import Logging
import ServiceLifecycle
import SwitchboardCore

/// Beats this node's entry in the cluster's registry every second with its report, and
/// announces the nodes it declared dead (log and event pane).
struct NodeHeartbeatService: Service {
    let hub: Hub
    let cluster: ClusterLink
    let collector: MetricsCollector
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                guard cluster.isUp else {
                    // Beat as soon as the link is up, and only with a report that says so.
                    try? await Task.sleep(for: .milliseconds(50))
                    continue
                }
                let report = await hub.nodeReport(collector: collector).jsonMembers
                for dead in await cluster.nodes.beat(report: report) {
                    logger.warning(
                        "node declared dead", metadata: ["node": "\(dead)", "silent_for_s": "\(NodeRegistry.deadAfter.components.seconds)"])
                    hub.events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: "node \(dead) declared dead: no heartbeat for 5 s"))
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
