import Foundation
import Logging
import NIOCore
import SwitchboardCore

/// The engine `configuration` asks for: Redis when `--redis` names one, else in process.
func makeEngine(for configuration: HubConfiguration, eventLoop: any EventLoop, logger: Logger) -> any Engine {
    guard let address = configuration.cluster.address else { return LocalEngine() }
    let link = ClusterLink(
        configuration: configuration.cluster, history: configuration.history, idempotencyTTL: configuration.idempotencyTTL, address: address,
        nodeName: configuration.cluster.nodeName ?? ProcessInfo.processInfo.hostName, eventLoop: eventLoop,
        announcesWebhooks: configuration.pusherApps.contains { !$0.webhooks.isEmpty }, logger: logger)
    return RedisEngine(link: link)
}
