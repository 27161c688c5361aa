import Histogram
import Prometheus
import Synchronization
import SwitchboardCore

/// `/metrics`: the collector's figures in the Prometheus text format, through swift-prometheus.
///
/// Gauges are set from live state at each scrape; counters advance by what the hub's totals grew
/// since the last scrape, so they stay monotonic; the latency histogram takes the publish → write
/// latencies recorded since the last scrape.
final class PrometheusExporter: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let collector: MetricsCollector
    private let gauges: [String: Gauge]
    private let counters: [String: Counter]
    private let mailboxDepth: [ActorKind: Gauge]
    private let latency: ValueHistogram
    private let exported = Mutex<[String: Int]>([:])
    private let scrape = Mutex<Void>(())
    /// The Redis link, when the node is clustered.
    private let link: @Sendable () -> NodeReport.LinkFigures?
    private let redisUp: Gauge
    private let redisPending: Gauge
    private let redisRoundTrip: Gauge
    private let redisReconnects: Counter
    /// The per-address and per-user connection limits.
    private let gate: ConnectionGate?
    private let refusedConnections: [ConnectionGate.Reason: Counter]
    /// The addresses refused in the last minute, by `address` and `reason`. Guarded by `scrape`.
    private let refusedSources = Mutex<[String: Gauge]>([:])
    /// The application proxies' figures, when some proxy URL is set.
    private let proxy: ProxyStatistics?
    private let proxyDurations: [ProxyKind: ValueHistogram]

    static let counterFields: [(String, String, any KeyPath<Totals, Int> & Sendable)] = [
        ("switchboard_connects_total", "WebSocket connections accepted", \.connects),
        ("switchboard_disconnects_total", "WebSocket connections ended", \.disconnects),
        ("switchboard_messages_in_total", "Messages received from clients", \.messagesIn),
        ("switchboard_messages_out_total", "Frames written to clients", \.messagesOut),
        ("switchboard_bytes_in_total", "Payload bytes received from clients", \.bytesIn),
        ("switchboard_bytes_out_total", "Bytes written to clients", \.bytesOut),
        ("switchboard_published_total", "Messages published to channels", \.published),
        ("switchboard_deliveries_total", "Messages handed to subscribers", \.deliveries),
        ("switchboard_kicks_total", "Clients kicked by an operator", \.kicks),
        ("switchboard_slow_consumer_closes_total", "Clients closed because their mailbox was full", \.slowConsumerCloses),
        ("switchboard_errors_total", "Errors reported to the event log", \.errors),
        ("switchboard_actor_restarts_total", "Supervised actor restarts", \.restarts),
        ("switchboard_cluster_gaps_total", "Clustered: gaps in a channel's numbering this node noticed, filled from history or not", \.gaps),
        ("switchboard_cluster_messages_lost_total", "Clustered: messages published in the cluster that never reached this node", \.messagesLost),
        (
            "switchboard_cluster_numbering_restarts_total", "Clustered: times a channel's numbering began again (Redis lost its data)",
            \.numberingRestarts
        ),
        ("switchboard_cluster_nodes_declared_dead_total", "Clustered: nodes this node declared dead and removed", \.nodesDeclaredDead),
        ("switchboard_recoveries_recovered_total", "Subscriptions resumed with since that got every missed message", \.recovered),
        (
            "switchboard_recoveries_not_recovered_total", "Subscriptions that asked to resume and could not (epoch changed, messages gone)",
            \.notRecovered
        ),
        ("switchboard_cluster_gaps_filled_total", "Clustered: missed messages delivered late from history instead of reported lost", \.gapsFilled),
        ("switchboard_history_evictions_total", "Kept messages evicted by the history byte cap (history-max-bytes)", \.historyEvictions),
    ]

    static let gaugeFields: [(String, String, any KeyPath<Totals, Int> & Sendable)] = [
        ("switchboard_connections", "WebSocket connections now", \.connections),
        ("switchboard_subscriptions", "Channel subscriptions now", \.subscriptions),
        ("switchboard_channels", "Channels with subscribers now", \.channels),
        ("switchboard_history_bytes", "Bytes all channels' histories hold now", \.historyBytes),
        ("switchboard_traces", "Traces (of a client, a user or a channel) running on this node now", \.traces),
    ]

    init(
        collector: MetricsCollector, gate: ConnectionGate? = nil, proxy: ProxyStatistics? = nil,
        link: @escaping @Sendable () -> NodeReport.LinkFigures? = { nil }
    ) {
        self.collector = collector
        self.link = link
        self.gate = gate
        self.proxy = proxy
        let registry = self.registry
        var refused: [ConnectionGate.Reason: Counter] = [:]
        for reason in ConnectionGate.Reason.allCases {
            refused[reason] = registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    metricName: "switchboard_connections_refused_total", unitName: "",
                    helpText: "WebSocket handshakes refused by max-connections-per-ip, connect-rate-per-ip or max-connections-per-user"),
                labels: [("reason", reason.rawValue)])
        }
        self.refusedConnections = refused
        var proxyDurations: [ProxyKind: ValueHistogram] = [:]
        for kind in ProxyKind.allCases where proxy != nil {
            proxyDurations[kind] = registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(
                    metricName: "switchboard_proxy_request_duration_seconds", unitName: "",
                    helpText: "Requests to the application's proxy URLs that were sent, by proxy: time to the answer"),
                labels: [("proxy", kind.rawValue)],
                buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
            )
        }
        self.proxyDurations = proxyDurations
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        }
        redisUp = gauge("switchboard_redis_up", "Clustered: 1 while the request connection to Redis is up")
        redisPending = gauge("switchboard_redis_pending_requests", "Clustered: requests sent to Redis and not yet answered")
        redisRoundTrip = gauge("switchboard_redis_round_trip_seconds", "Clustered: the last heartbeat's round trip to Redis")
        redisReconnects = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchboard_redis_reconnects_total", unitName: "", helpText: "Clustered: connections to Redis made again"))
        var gauges: [String: Gauge] = [:]
        for (name, help, _) in Self.gaugeFields {
            gauges[name] = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        }
        self.gauges = gauges
        var counters: [String: Counter] = [:]
        for (name, help, _) in Self.counterFields {
            counters[name] = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        }
        self.counters = counters
        var depth: [ActorKind: Gauge] = [:]
        for kind in ActorKind.allCases {
            depth[kind] = registry.makeGauge(
                descriptor: MetricNameDescriptor(
                    metricName: "switchboard_mailbox_depth", unitName: "", helpText: "Messages waiting in actor mailboxes, by actor kind"),
                labels: [("kind", kind.rawValue)]
            )
        }
        mailboxDepth = depth
        latency = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "switchboard_publish_latency_seconds",
                unitName: "",
                helpText: "Time from a publish arriving to its frame being flushed to subscribers"
            ),
            buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
        )
    }

    /// Clustered: gauges of the cluster's figures, made at the first scrape that has them (a
    /// node on its own has none). Guarded by `scrape`.
    private let clusterGauges = Mutex<[String: Gauge]>([:])
    /// With Redis Cluster: per master, the series of ``shardFields`` in their order (label
    /// `shard`, its address), made as masters appear and removed as they go. Guarded by `scrape`.
    private let shardGauges = Mutex<[String: [Gauge]]>([:])

    static let clusterFields: [(String, String, any KeyPath<ClusterTotals, Double> & Sendable)] = [
        ("switchboard_cluster_nodes_alive", "Clustered: nodes heartbeating now", \.alive),
        ("switchboard_cluster_nodes_dead", "Clustered: nodes that stopped heartbeating and are not yet cleaned up", \.dead),
        ("switchboard_cluster_connections", "Clustered: WebSocket connections of every live node", \.allConnections),
        ("switchboard_cluster_mailbox_depth", "Clustered: mailbox depth of every live node", \.allMailboxes),
        ("switchboard_cluster_messages_in_per_second", "Clustered: messages received per second by every live node", \.messagesInPerSecond),
        ("switchboard_cluster_messages_out_per_second", "Clustered: frames written per second by every live node", \.messagesOutPerSecond),
    ]

    /// The text exposition, with every figure read now.
    func render() async -> String {
        let cluster = await collector.clusterTotals()
        let totals = await collector.totals()
        let actors = await collector.actors(limit: .max)
        let latencies = await collector.takeExportLatencies()
        return scrape.withLock { _ in
            for (name, _, path) in Self.gaugeFields { gauges[name]?.set(Double(totals[keyPath: path])) }
            exported.withLock { last in
                for (name, _, path) in Self.counterFields {
                    let value = totals[keyPath: path]
                    let delta = value - (last[name] ?? 0)
                    if delta > 0 { counters[name]?.increment(by: Int64(delta)) }
                    last[name] = max(value, last[name] ?? 0)
                }
            }
            var depthByKind: [ActorKind: Int] = [:]
            for actor in actors { depthByKind[actor.kind, default: 0] += actor.depth }
            for (kind, gauge) in mailboxDepth { gauge.set(Double(depthByKind[kind] ?? 0)) }
            if let link = link() {
                redisUp.set(Double(link.up ? 1 : 0))
                redisPending.set(Double(link.pending))
                redisRoundTrip.set((link.roundTripMilliseconds ?? 0) / 1000)
                exported.withLock { last in
                    let delta = link.reconnects - (last["redis_reconnects"] ?? 0)
                    if delta > 0 { redisReconnects.increment(by: Int64(delta)) }
                    last["redis_reconnects"] = max(link.reconnects, last["redis_reconnects"] ?? 0)
                }
            }
            if let link = link() { exportShards(link.shards) }
            if let cluster {
                clusterGauges.withLock { gauges in
                    for (name, help, path) in Self.clusterFields {
                        let gauge =
                            gauges[name]
                            ?? registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
                        gauges[name] = gauge
                        gauge.set(cluster[keyPath: path])
                    }
                }
            }
            if let gate { exportRefusals(gate) }
            exportProxyFigures()
            for value in latencies.recordedValues() {
                for _ in 0..<value.count { latency.record(Double(value.value) / 1e6) }
            }
            return registry.emitToString()
        }
    }
}

extension PrometheusExporter {
    /// Each Redis Cluster master's series: name, help text and value.
    private static let shardFields: [(name: String, help: String, value: @Sendable (NodeReport.ShardFigures) -> Double)] = [
        ("switchboard_redis_shard_up", "Redis Cluster: 1 while the request connection to this master is up", { $0.up ? 1 : 0 }),
        ("switchboard_redis_shard_pending_requests", "Redis Cluster: requests sent to this master and not yet answered", { Double($0.pending) }),
        (
            "switchboard_redis_shard_round_trip_seconds", "Redis Cluster: the last PING round trip to this master (0 while unknown or down)",
            { Double($0.roundTripMicroseconds ?? 0) / 1e6 }
        ),
        (
            "switchboard_redis_shard_subscriber_up", "Redis Cluster: 1 while the subscriber connection to this master is up",
            { $0.subscriberUp ? 1 : 0 }
        ),
    ]

    /// Sets each Redis Cluster master's link series (``shardFields``); a master no longer in the
    /// slot map loses its series. Under `scrape`.
    private func exportShards(_ shards: [NodeReport.ShardFigures]) {
        shardGauges.withLock { gauges in
            var current: [String: [Gauge]] = [:]
            for shard in shards {
                let key = "\(shard.address)"
                let series =
                    gauges[key]
                    ?? Self.shardFields.map { field in
                        registry.makeGauge(
                            descriptor: MetricNameDescriptor(metricName: field.name, unitName: "", helpText: field.help), labels: [("shard", key)])
                    }
                for (gauge, field) in zip(series, Self.shardFields) { gauge.set(field.value(shard)) }
                current[key] = series
            }
            for (key, series) in gauges where current[key] == nil {
                for gauge in series { registry.unregisterGauge(gauge) }
            }
            gauges = current
        }
    }

    /// Advances the refusal counters and shows the addresses refused in the last minute (at
    /// most 20) as `switchboard_refused_source_attempts{address,reason}`. Under `scrape`.
    private func exportRefusals(_ gate: ConnectionGate) {
        exported.withLock { last in
            for (reason, counter) in refusedConnections {
                let value = gate.refusedCount(reason)
                let key = "refused_" + reason.rawValue
                if value > (last[key] ?? 0) { counter.increment(by: Int64(value - (last[key] ?? 0))) }
                last[key] = max(value, last[key] ?? 0)
            }
        }
        refusedSources.withLock { gauges in
            var current: [String: Gauge] = [:]
            for refused in gate.recentlyRefused() {
                let key = refused.address + " " + refused.reason.rawValue
                let gauge =
                    gauges[key]
                    ?? registry.makeGauge(
                        descriptor: MetricNameDescriptor(
                            metricName: "switchboard_refused_source_attempts", unitName: "",
                            helpText: "Connection attempts refused in the last minute from each address being refused (at most 20)"),
                        labels: [("address", refused.address), ("reason", refused.reason.rawValue)])
                gauge.set(Double(refused.attempts))
                current[key] = gauge
            }
            for (key, gauge) in gauges where current[key] == nil { registry.unregisterGauge(gauge) }
            gauges = current
        }
    }

    /// The proxies' durations since the last scrape, and their failures as counters by proxy and
    /// reason (made at the first failure of each). Called under the scrape lock.
    private func exportProxyFigures() {
        guard let proxy else { return }
        for (kind, figures) in proxy.takeForExport() {
            for seconds in figures.pendingDurations { proxyDurations[kind]?.record(seconds) }
            exported.withLock { last in
                for (reason, count) in figures.failures {
                    let key = "proxy_failures:\(kind.rawValue):\(reason.rawValue)"
                    let delta = count - (last[key] ?? 0)
                    guard delta > 0 else { continue }
                    let counter = registry.makeCounter(
                        descriptor: MetricNameDescriptor(
                            metricName: "switchboard_proxy_failures_total", unitName: "",
                            helpText: "Requests to the application's proxy URLs without a usable answer, by proxy and reason"),
                        labels: [("proxy", kind.rawValue), ("reason", reason.rawValue)])
                    counter.increment(by: Int64(delta))
                    last[key] = count
                }
            }
        }
    }
}

extension ClusterTotals {
    /// The counts as gauge values.
    fileprivate var alive: Double { Double(nodesAlive) }
    fileprivate var dead: Double { Double(nodesDead) }
    fileprivate var allConnections: Double { Double(connections) }
    fileprivate var allMailboxes: Double { Double(mailboxDepth) }
}
