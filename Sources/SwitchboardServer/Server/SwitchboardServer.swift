public import SwitchboardCore
import Hummingbird
public import Logging
import NIOCore
public import NIOPosix
import HummingbirdCore
import HummingbirdTLS
import Foundation
import RedisClient
import NIOConcurrencyHelpers
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
    /// The metrics actor: events, rates, snapshots.
    public let collector: MetricsCollector
    /// The admin token, once the listener is bound.
    public let access: AdminAccess
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
        let events = EventMailbox()
        var hubConfiguration = configuration.hub
        hubConfiguration.cluster.nodeName = hubConfiguration.cluster.resolvedNodeName(port: configuration.port)
        let hub = Hub(eventLoopGroup: group, configuration: hubConfiguration, logger: logger, events: events)
        self.hub = hub
        let collector = MetricsCollector(probe: hub, mailbox: events)
        self.collector = collector
        let access = AdminAccess()
        self.access = access
        let endpoints = WebSocketEndpoints(native: configuration.webSocketPath, echo: configuration.echoPath)
        let router = HTTPRoutes.router(hub: hub, endpoints: endpoints)
        PusherAPI.register(on: router, hub: hub)
        AdminAPI.register(on: router, hub: hub, collector: collector, access: access, faultInjection: configuration.hub.faultInjection)
        let exporter = PrometheusExporter(collector: collector, gate: hub.gate, proxy: hub.proxy?.statistics) { hub.linkFigures }
        let metricsRoutes = configuration.metricsPublic ? router.group() : router.group().add(middleware: AdminAuthMiddleware(access: access))
        metricsRoutes.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: await exporter.render()))
            )
        }
        let tls = configuration.tls
        let authenticator = hub.authenticator
        let handshakeTimeout = TimeAmount(configuration.handshakeTimeout)
        let httpIdleTimeout = configuration.httpIdleTimeout
        let admin = AdminEndpoint(access: access, snapshots: SharedSnapshot(collector: collector))
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                let plain = SwitchboardChildChannel(
                    responder: responder,
                    hub: hub,
                    admin: admin,
                    endpoints: endpoints,
                    origins: configuration.origins,
                    authenticator: authenticator,
                    handshakeTimeout: handshakeTimeout,
                    httpIdleTimeout: httpIdleTimeout,
                    secure: tls != nil
                )
                guard let tls else { return plain }
                return try TLSChannel(plain, tlsConfiguration: tls)
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "switchboard/\(SwitchboardVersion.current)"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                hub.setAddress("\(tls == nil ? "ws" : "wss")://\(configuration.host):\(port)\(endpoints.native)")
                do {
                    let token = try AdminToken.resolve(given: configuration.adminToken, port: port)
                    access.set(token)
                    if let file = token.stateFile {
                        logger.info("admin token generated", metadata: ["token_file": "\(file)"])
                    } else {
                        logger.info("admin token from configuration")
                    }
                } catch {
                    logger.error("cannot write the admin token file; the admin API stays closed", metadata: ["error": "\(error)"])
                }
                await onListening(port)
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        var services: [any Service] = [
            HubService(hub: hub, eventLoopGroup: group),
            MetricsService(collector: collector, logger: logger),
        ]
        if let cluster = hub.clusterLink {
            services.append(NodeHeartbeatService(hub: hub, cluster: cluster, collector: collector, logger: logger))
        }
        if let webhooks = hub.webhooks {
            services.append(WebhookService(hub: hub, webhooks: webhooks))
        }
        if configuration.statsInterval > .zero {
            services.append(StatsLogService(hub: hub, interval: configuration.statsInterval, logger: logger))
        }
        services.append(application)
        self.services = services
    }
}

extension SwitchboardServer {
    /// Why a clustered node must not start: a live node of its cluster already has its name, or
    /// the cluster's nodes use another number of partitions (exit 2). Nil when the name is free, the node is not clustered, or Redis cannot be reached
    /// within a few seconds (the node then starts and joins once Redis is back).
    public static func nodeNameRefusal(_ configuration: ServerConfiguration, logger: Logger) async -> String? {
        guard let address = configuration.hub.cluster.address else { return nil }
        let name = configuration.hub.cluster.resolvedNodeName(port: configuration.port)
        let connection = ClusterRedis(configuration: .init(address: address), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        connection.start()
        let deadline = ContinuousClock.now + .seconds(3)
        while !connection.isUp && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        guard connection.isUp else {
            let why = connection.status.lastError ?? "no answer within 3 s"
            await connection.stop()
            logger.warning("\(ProtocolError.redisUnreachable) yet; starting anyway", metadata: ["redis": "\(address)", "why": "\(why)"])
            return nil
        }
        let keys = ClusterKeys(prefix: configuration.hub.cluster.prefix, partitions: configuration.hub.cluster.partitions)
        let age = try? await NodeRegistry.heartbeatAge(of: name, keys: keys, on: connection)
        let partitions = try? await NodeRegistry.partitions(keys: keys, on: connection)
        await connection.stop()
        if let partitions = partitions ?? nil, partitions != keys.partitions {
            return "--redis-partitions: this cluster's nodes spread channels over \(partitions) partitions, this node over "
                + "\(keys.partitions); give every node the same number"
        }
        guard let age = age ?? nil, age < Int(NodeRegistry.deadAfter.components.seconds * 1000) else { return nil }
        return "--node-name: a live node of this cluster is already named \"\(name)\" (heartbeat \(age) ms ago); give this node another name"
    }
}

/// Keeps the hub for the life of the service group and drains it on graceful shutdown, after the
/// HTTP listener (a later service) has stopped accepting.
struct HubService: Service {
    let hub: Hub
    let eventLoopGroup: MultiThreadedEventLoopGroup

    func run() async throws {
        hub.engine.start(hub: hub)
        try? await gracefulShutdown()
        await hub.drain()
        await hub.engine.stop()
        await hub.proxy?.shutdown()
        try? await eventLoopGroup.shutdownGracefully()
    }
}

/// Runs the metrics collector under a supervisor: a failure restarts it with backoff, is counted,
/// logged and shown in the event log, and never stops the server.
struct MetricsService: Service {
    let collector: MetricsCollector
    let logger: Logger

    func run() async throws {
        let logger = self.logger
        let collector = self.collector
        let supervisor = Supervisor { child, error, restarts in
            logger.warning("actor restarted", metadata: ["actor": "\(child)", "error": "\(error)", "restarts": "\(restarts)"])
            Task { await collector.recordRestart(of: child, error: "\(error)") }
        }
        await cancelWhenGracefulShutdown {
            await supervisor.run([Supervisor.Child(name: collector.mailbox.gauge.name) { try await collector.run() }])
        }
    }
}

/// Delivers Pusher webhooks for the life of the server; its mailbox is listed among the actors.
struct WebhookService: Service {
    let hub: Hub
    let webhooks: WebhookDispatcher

    func run() async throws {
        hub.register(webhooks.mailbox.gauge)
        defer { hub.unregister(webhooks.mailbox.gauge) }
        await cancelWhenGracefulShutdown { await webhooks.run() }
    }
}
