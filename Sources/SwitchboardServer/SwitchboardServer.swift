import SwitchboardCore
import Hummingbird
public import Logging
import NIOCore
public import NIOPosix
import HummingbirdCore
public import ServiceLifecycle

/// The whole server: event loops, the hub, and the HTTP application, as services to run in one
/// `ServiceGroup`.
///
/// ```swift
/// let server = SwitchboardServer(configuration: configuration, logger: logger)
/// let group = ServiceGroup(services: server.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class SwitchboardServer: Sendable {
    public let configuration: ServerConfiguration
    public let hub: Hub
    public let eventLoopGroup: MultiThreadedEventLoopGroup
    /// In shutdown order reversed: the hub drains last, after the listener has stopped.
    public let services: [any Service]
    private let logger: Logger

    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public init(configuration: ServerConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        self.eventLoopGroup = group
        let hub = Hub(eventLoopGroup: group, configuration: configuration.hub, logger: logger)
        self.hub = hub
        let router = HTTPRoutes.router(hub: hub, webSocketPath: configuration.webSocketPath)
        let webSocketPath = configuration.webSocketPath
        let handshakeTimeout = TimeAmount(configuration.handshakeTimeout)
        let httpIdleTimeout = configuration.httpIdleTimeout
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                SwitchboardChildChannel(
                    responder: responder,
                    hub: hub,
                    webSocketPath: webSocketPath,
                    handshakeTimeout: handshakeTimeout,
                    httpIdleTimeout: httpIdleTimeout
                )
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "switchboard/\(SwitchboardVersion.current)"
            ),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? configuration.port)
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        var services: [any Service] = [HubService(hub: hub, eventLoopGroup: group)]
        if configuration.statsInterval > .zero {
            services.append(StatsLogService(hub: hub, interval: configuration.statsInterval, logger: logger))
        }
        services.append(application)
        self.services = services
    }
}

/// Keeps the hub for the life of the service group and drains it on graceful shutdown, after the
/// HTTP listener (a later service) has stopped accepting.
struct HubService: Service {
    let hub: Hub
    let eventLoopGroup: MultiThreadedEventLoopGroup

    func run() async throws {
        try? await gracefulShutdown()
        await hub.drain()
        try? await eventLoopGroup.shutdownGracefully()
    }
}
