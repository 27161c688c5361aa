public import Histogram

/// What the metrics collector reads from the hub: live gauges, counters, and rows, all taken
/// from the hub's own state when asked (never kept by increment and decrement).
public protocol HubProbe: Sendable {
    /// `ws://host:port/path`
    var address: String { get }
    var uptimeSeconds: Double { get }
    /// `ok`, or why the hub is degraded.
    var health: String { get }
    /// Counters and gauges of the hub (the collector adds its own: restarts, dropped events).
    func totals() async -> Totals
    /// Has every client take its rate: the messages since the previous call over `elapsed`
    /// seconds (nil: the first call).
    func sampleClientRates(elapsed: Double?) async
    /// This node's clients in `query`'s window, rates in, building rows only for the window.
    func clientWindow(_ query: ClientQuery) async -> ClientWindow
    /// At most `limit` of this node's clients, the deepest outbound mailboxes first; clients
    /// with nothing queued fill the rest in no particular order (the session actors: their cost
    /// is the backed-up clients and `limit`, not every client).
    func busiestClients(limit: Int) async -> [ClientRow]
    /// Every channel with subscribers (rates are filled in by the collector).
    func channelRows() async -> [ChannelRow]
    /// Every actor that is not a session (sessions come from the client rows).
    func actorRows() async -> [ActorRow]
    /// Publish → write latencies recorded since the last call, in microseconds.
    func takeLatencies() async -> Histogram<UInt64>
    /// This node's part of a cluster-wide client window (see ``ClientWindowStep``).
    func clientWindowPart(_ step: ClientWindowStep) async -> ClientWindowPart
    /// Clustered: the other live nodes' parts for `step` (or those of `nodes`), by node name,
    /// and the nodes that did not answer in time.
    func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String])
    /// Clustered: this node's name; nil for a node on its own.
    var nodeName: String? { get }
    /// Clustered: every node of the cluster; nil for a node on its own.
    func nodeRows() async -> [NodeRow]?
    /// The application proxies (rates are filled in by the collector); nil when there are none.
    func proxyRows() async -> [ProxyRow]?
}

extension HubProbe {
    public func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String]) {
        ([:], [])
    }
    public var nodeName: String? { nil }
    public func nodeRows() async -> [NodeRow]? { nil }
    public func proxyRows() async -> [ProxyRow]? { nil }
}

/// The metrics actor: lifecycle events stream into it through a bounded mailbox, and once a
/// second it samples the hub's counters into per-second history. It serves
/// ``DashboardSnapshot``s to the console, the admin API and the admin stream.
public actor MetricsCollector {
    public let probe: any HubProbe
    public let mailbox: EventMailbox
    public let tickInterval: Duration
    private var history = RateHistory()
    private var eventLog = EventLog(capacity: 1000)
    private var latency = LatencyHistogram.make()
    private var latencyToExport = LatencyHistogram.make()
    private var actorRates: [String: Double] = [:]
    private var channelRates: [String: Double] = [:]
    private var actorTracker = RateTracker()
    private var channelTracker = RateTracker()
    private var proxyRates: [String: Double] = [:]
    private var proxyTracker = RateTracker()
    private var previousTick: ContinuousClock.Instant?
    private var restarts: [String: Int] = [:]
    private var counters = Totals()
    private var subscribers: [Int: AsyncStream<HubEvent>.Continuation] = [:]
    private var nextSubscriber = 0
    private var failNextTick = false
    private let startedAt = ContinuousClock.now

    public init(probe: any HubProbe, mailbox: EventMailbox = EventMailbox(), tickInterval: Duration = .seconds(1)) {
        self.probe = probe
        self.mailbox = mailbox
        self.tickInterval = tickInterval
    }

    // MARK: - Running

    /// Drains events as they arrive and samples once per tick until cancelled. Supervised: if it
    /// throws, the supervisor calls it again; history and the event log survive the restart.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await _ in self.mailbox.arrivals {
                    await self.absorbEvents()
                }
            }
            while !Task.isCancelled {
                try await self.tick()
                try await Task.sleep(for: tickInterval)
            }
            group.cancelAll()
        }
    }

    /// Test-only fault injection: the next tick throws, and the supervisor must restart the actor.
    public func injectFailure() {
        failNextTick = true
    }

    /// Records a supervised actor's restart (called by the supervisor's handler).
    public func recordRestart(of actor: String, error: String) {
        restarts[actor, default: 0] += 1
        record(HubEvent(time: Self.wallClock(), kind: .restart, detail: "\(actor) restarted after: \(error)"))
    }

    struct InjectedFailure: Error, CustomStringConvertible {
        var description: String { "injected failure" }
    }

    /// Takes one sample of the hub.
    public func tick() async throws {
        if failNextTick {
            failNextTick = false
            throw InjectedFailure()
        }
        absorbEvents()
        let now = ContinuousClock.now
        let totals = await probe.totals()
        history.append(
            RateHistory.Sample(
                time: (now - startedAt).seconds,
                messagesIn: totals.messagesIn,
                messagesOut: totals.messagesOut,
                bytesIn: totals.bytesIn,
                bytesOut: totals.bytesOut,
                deliveries: totals.deliveries,
                published: totals.published,
                connections: totals.connections
            )
        )
        let recent = await probe.takeLatencies()
        latency.add(recent)
        latencyToExport.add(recent)
        let elapsed = previousTick.map { max((now - $0).seconds, 1e-3) }
        previousTick = now

        await probe.sampleClientRates(elapsed: elapsed)
        var processed = Dictionary(await probe.actorRows().map { ($0.name, $0.processed) }, uniquingKeysWith: { $1 })
        processed[mailbox.gauge.name] = mailbox.gauge.read().dequeued
        actorRates = actorTracker.update(processed, elapsed: elapsed)
        if let proxies = await probe.proxyRows() {
            proxyRates = proxyTracker.update(Dictionary(uniqueKeysWithValues: proxies.map { ($0.proxy, $0.requests) }), elapsed: elapsed)
        }
        channelRates = channelTracker.update(
            Dictionary(await probe.channelRows().map { ($0.name, $0.published) }, uniquingKeysWith: { $1 }), elapsed: elapsed
        )
    }

    // MARK: - Events

    private func absorbEvents() {
        for event in mailbox.drain() { record(event) }
    }

    private func record(_ event: HubEvent) {
        let numbered = eventLog.append(event)
        switch event.kind {
        case .kick: counters.kicks += 1
        case .error: counters.errors += 1
        default: break
        }
        for continuation in subscribers.values { continuation.yield(numbered) }
    }

    /// Lifecycle events after `since`, oldest first.
    public func events(since: UInt64 = 0, limit: Int = 1000) -> [HubEvent] {
        absorbEvents()
        return eventLog.events(since: since, limit: limit)
    }

    /// A live feed of events as they are recorded (bounded: a reader that falls behind by more
    /// than 1000 events loses the oldest).
    public func subscribe() -> (id: Int, events: AsyncStream<HubEvent>) {
        let (stream, continuation) = AsyncStream.makeStream(of: HubEvent.self, bufferingPolicy: .bufferingNewest(1000))
        nextSubscriber += 1
        subscribers[nextSubscriber] = continuation
        return (nextSubscriber, stream)
    }

    public func unsubscribe(_ id: Int) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    // MARK: - Snapshots

    /// Totals with the collector's own counters merged in.
    public func totals() async -> Totals {
        absorbEvents()
        var totals = await probe.totals()
        totals.kicks = counters.kicks
        totals.errors = counters.errors
        totals.restarts = restarts.values.reduce(0, +)
        totals.eventsDropped = mailbox.gauge.read().dropped
        totals.mailboxDepth += mailbox.gauge.read().depth
        return totals
    }

    /// Message rates over the last `seconds` seconds.
    public func rates(over seconds: Int) -> Rates {
        history.rates(over: seconds)
    }

    /// The dashboard at this moment, with the client rows `query` asks for (nil: an empty client
    /// window, for readers that add their own, see the admin stream's shared snapshot).
    public func snapshot(query: ClientQuery? = ClientQuery(), seriesSeconds: Int = 300, events eventCount: Int = 100, actorLimit: Int = 50) async
        -> DashboardSnapshot
    {
        let totals = await totals()
        var window = ClientWindow()
        if let query { window = await clients(query) }
        var snapshot = DashboardSnapshot(
            server: ServerInfo(version: SwitchboardVersion.current, address: probe.address, uptimeSeconds: probe.uptimeSeconds, health: probe.health),
            totals: totals,
            rates1s: history.rates(over: 1),
            rates10s: history.rates(over: 10),
            rates60s: history.rates(over: 60),
            series: history.series(seriesSeconds),
            latency: latencyStats(),
            clients: window,
            channels: await channels(),
            actors: await actors(limit: actorLimit),
            events: eventLog.events(limit: eventCount)
        )
        snapshot.nodes = await probe.nodeRows()
        snapshot.proxies = await probe.proxyRows()?.map { row in
            var row = row
            row.rate = proxyRates[row.proxy] ?? 0
            return row
        }
        return snapshot
    }

    /// Clustered: the cluster's figures (nil for a node on its own).
    public func clusterTotals() async -> ClusterTotals? {
        await probe.nodeRows().map(ClusterTotals.init)
    }

    /// Client rows for `query`, with current rates: clustered, of every node.
    public func clients(_ query: ClientQuery) async -> ClientWindow {
        await probe.clusterClientWindow(query)
    }

    /// Channels with subscribers, busiest first.
    public func channels() async -> [ChannelRow] {
        var rows = await probe.channelRows()
        for index in rows.indices { rows[index].messageRate = channelRates[rows[index].name] ?? 0 }
        return rows.sorted { ($0.subscribers, $1.name) > ($1.subscribers, $0.name) }
    }

    /// Every actor, at most `limit`: the long-lived ones first (hub shards, this collector,
    /// webhooks, admin streams), then the sessions; each group deepest mailbox first, ties by
    /// name. With thousands of clients the actors an operator looks for are still on screen:
    /// sessions with nothing queued only fill the rest (see ``HubProbe/busiestClients(limit:)``).
    public func actors(limit: Int = 50) async -> [ActorRow] {
        let sessions = await probe.busiestClients(limit: max(0, limit))
        var rows = await probe.actorRows()
        for index in rows.indices {
            rows[index].processedPerSecond = actorRates[rows[index].name] ?? 0
            rows[index].restarts = restarts[rows[index].name] ?? 0
        }
        let own = mailbox.gauge.read()
        rows.append(
            ActorRow(
                name: mailbox.gauge.name, kind: mailbox.gauge.kind, depth: own.depth, peak: own.peak, capacity: mailbox.gauge.capacity,
                processedPerSecond: actorRates[mailbox.gauge.name] ?? 0, processed: own.dequeued, dropped: own.dropped,
                restarts: restarts[mailbox.gauge.name] ?? 0
            )
        )
        for client in sessions {
            rows.append(
                ActorRow(
                    name: client.id, kind: .session, depth: client.mailbox.depth, peak: client.mailbox.peak, capacity: client.mailboxCapacity,
                    processedPerSecond: client.rate, processed: client.mailbox.dequeued, dropped: client.mailbox.dropped, restarts: 0
                )
            )
        }
        rows.sort { ($0.kind.isLongLived ? 1 : 0, $0.depth, $1.name) > ($1.kind.isLongLived ? 1 : 0, $1.depth, $0.name) }
        return Array(rows.prefix(max(0, limit)))
    }

    /// Publish → write latency percentiles since start.
    public func latencyStats() -> LatencyStats {
        LatencyStats(
            count: latency.totalCount,
            p50: latency.valueAtPercentile(50),
            p90: latency.valueAtPercentile(90),
            p99: latency.valueAtPercentile(99),
            p999: latency.valueAtPercentile(99.9),
            max: latency.totalCount > 0 ? latency.max : 0
        )
    }

    /// Latencies recorded since the last call (for the Prometheus histogram).
    public func takeExportLatencies() -> Histogram<UInt64> {
        defer { latencyToExport.reset() }
        return latencyToExport
    }

    static func wallClock() -> Double { WallClock.now() }
}

/// Per-key rates from successive totals: each update's rate is the growth since the previous
/// update divided by the time between them. Keys that disappear are forgotten.
struct RateTracker {
    private var previous: [String: Int] = [:]

    /// The rates since the last update; keys whose total did not move are left out (their rate
    /// is 0), so thousands of idle clients cost no rate entries.
    mutating func update(_ totals: [String: Int], elapsed: Double?) -> [String: Double] {
        defer { previous = totals }
        guard let elapsed else { return [:] }
        var rates: [String: Double] = [:]
        for (key, value) in totals {
            if let before = previous[key], value != before { rates[key] = Double(value - before) / elapsed }
        }
        return rates
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
