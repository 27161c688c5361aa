public import Histogram
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
public import SwitchboardCore

/// The hub's read side: totals and figures gathered from every shard's live state, on the
/// shards' own loops, for the metrics collector, the console, `/metrics` and the admin API.
extension Hub {
    /// Runs `body` on every shard's loop and collects the results (a shard that cannot answer,
    /// shutting down, is left out).
    func gather<T: Sendable>(_ body: @escaping @Sendable (HubShard) -> T) async -> [T] {
        var results: [T] = []
        for shard in shards {
            if let value = try? await shard.eventLoop.submit({ body(shard) }).get() { results.append(value) }
        }
        return results
    }

    // MARK: - Statistics

    /// Seconds since the hub started.
    public var uptimeSeconds: Double {
        let elapsed = ContinuousClock.now - startedAt
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Totals from every shard. Gauges (connections, subscriptions, channels, queued frames) are
    /// counted from each shard's live registry on its own loop; counters are the shards' totals.
    public func statistics() async -> Totals {
        var result = Totals()
        var channelNames = Set<String>()
        let parts = await gather { shard in
            (shard, shard.subscriptionCount, shard.channelNames, shard.queuedFrames, shard.traffic, shard.owned.historyBytes)
        }
        for (shard, subscriptions, names, queued, traffic, historyBytes) in parts {
            result.historyBytes += historyBytes
            result.recovered += traffic.recovered
            result.notRecovered += traffic.notRecovered
            result.historyEvictions += traffic.historyEvictions
            result.gapsFilled += traffic.gapsFilled
            result.subscriptions += subscriptions
            result.mailboxDepth += queued + shard.inboxBacklog
            channelNames.formUnion(names)
            result.connections += shard.sessionCount.load(ordering: .relaxed)
            result.messagesIn += traffic.messagesIn
            result.messagesOut += traffic.messagesOut
            result.bytesIn += traffic.bytesIn
            result.bytesOut += traffic.bytesOut
            result.published += traffic.published
            result.deliveries += traffic.deliveries
            result.connects += traffic.connects
            result.disconnects += traffic.disconnects
            result.slowConsumerCloses += traffic.slowConsumerCloses
            result.gaps += traffic.gaps
            result.messagesLost += traffic.messagesLost
            result.numberingRestarts += traffic.numberingRestarts
        }
        result.nodesDeclaredDead = engine.nodesDeclaredDead
        result.channels = channelNames.count
        result.traces = traces.count
        return result
    }

    /// The outbound mailbox figures of every connected session (for tests and inspection).
    public func sessionMailboxes() async -> [String: MailboxCounts] {
        var result: [String: MailboxCounts] = [:]
        for part in await gather({ $0.allSessions.map { ($0.id, $0.mailboxCounts) } }) {
            for (id, counts) in part { result[id] = counts }
        }
        return result
    }
}

/// The metrics collector's view of the hub: everything is read from the shards' live state, on
/// their own loops.
extension Hub: HubProbe {
    public var address: String { boundAddress.withLockedValue { $0 } }

    public var health: String { draining.load(ordering: .relaxed) ? "draining" : engine.problem ?? "ok" }

    public func totals() async -> Totals {
        await statistics()
    }

    public func sampleClientRates(elapsed: Double?) async {
        _ = await gather { $0.sampleClientRates(elapsed: elapsed) }
        clientOrders.figuresSampled()
    }

    /// This node's clients in `query`'s window: a slice of the order's keys (plain numbers,
    /// sorted once and shared by the queries wanting that order while it is current, see
    /// ``ClientOrderCache``); only the window's rows are built, by the shards holding them.
    public func clientWindow(_ query: ClientQuery) async -> ClientWindow {
        let order = await order(query)
        let matching = order.keys.count
        return ClientWindow(total: matching, offset: min(query.offset, matching), rows: await rows(of: Array(order.window(query))).compactMap { $0 })
    }

    public var nodeName: String? { engine.nodeName }

    public func clientWindowPart(_ step: ClientWindowStep) async -> ClientWindowPart {
        switch step {
        case .outline(let query): .outline(NodeOutline(of: await order(query)))
        case .range(let query, let range): .range(NodeRange(of: await order(query), in: range, node: nodeName ?? ""))
        case .rows(let keys): .rows(await rows(of: keys))
        }
    }

    /// The clients `query` matches, sorted, shared by the queries wanting
    /// the same order while it is current (``ClientOrderCache``).
    private func order(_ query: ClientQuery) async -> SortedClientOrder {
        await clientOrders.order(for: query) { [self] in
            await gather { $0.clientOrderKeys(matching: query) }
        } moved: { [self] since in
            let parts = await gather { shard in
                since.indices.contains(shard.index) ? shard.movedClientOrderKeys(matching: query, since: since[shard.index]) : nil
            }
            let moved = parts.compactMap { $0 }
            return moved.count == shards.count && since.count == shards.count ? moved : nil
        }
    }

    /// The rows of the clients `keys` stand for, in their order, built by the shards holding
    /// them; nil for a client that has left.
    private func rows(of keys: [ClientOrderKey]) async -> [ClientRow?] {
        var built: [UInt64: ClientRow] = [:]
        for (owner, keys) in Dictionary(grouping: keys, by: \.owner) where shards.indices.contains(owner) {
            let shard = shards[owner]
            let numbers = keys.map(\.number)
            guard let rows = try? await shard.eventLoop.submit({ shard.clientRows(numbers: numbers) }).get() else { continue }
            for (number, row) in rows { built[number] = row }
        }
        let node = engine.nodeName
        return keys.map { key in
            built[key.number].map {
                var row = $0
                row.node = node
                return row
            }
        }
    }

    public func busiestClients(limit: Int) async -> [ClientRow] {
        let rows = (await gather { $0.busiestClientRows(limit: limit) }).flatMap { $0 }
        return Array(rows.sorted { $0.mailbox.depth > $1.mailbox.depth }.prefix(limit))
    }

    public func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String]) {
        await engine.otherNodesParts(step, of: nodes)
    }

    public func nodeRows() async -> [NodeRow]? {
        await engine.nodeRows()
    }

    public func proxyRows() async -> [ProxyRow]? {
        proxy?.rows()
    }

    public func channelRows() async -> [ChannelRow] {
        var subscribers: [String: Int] = [:]
        var published: [String: Int] = [:]
        var histories: [String: (count: Int, epoch: String)] = [:]
        for part in await gather({ ($0.channelCounts(), $0.owned.historyFigures()) }) {
            subscribers.merge(part.0.subscribers, uniquingKeysWith: +)
            published.merge(part.0.published, uniquingKeysWith: +)
            histories.merge(part.1) { first, _ in first }
        }
        // Channels with history are listed even while nobody subscribes: their history lives on.
        for channel in histories.keys where subscribers[channel] == nil { subscribers[channel] = 0 }
        return subscribers.map { channel, count in
            ChannelRow(
                name: channel, subscribers: count, messageRate: 0, published: published[channel] ?? 0, history: histories[channel]?.count,
                epoch: histories[channel]?.epoch)
        }
    }

    /// `rows` (this node's channels) as the admin API lists them: with every node's subscribers.
    func clusterChannelRows(_ rows: [ChannelRow]) async throws(OperatorFailure) -> [ChannelRow] {
        try await engine.channelRows(rows, in: self)
    }

    public func actorRows() async -> [ActorRow] {
        var rows = shards.map { shard in
            let counts = shard.inboxGauge.read()
            return ActorRow(
                name: shard.inboxGauge.name, kind: shard.inboxGauge.kind, depth: shard.inboxBacklog, peak: counts.peak,
                capacity: shard.inboxGauge.capacity, processedPerSecond: 0, processed: counts.dequeued, dropped: counts.dropped, restarts: 0
            )
        }
        for gauge in otherGauges.withLockedValue({ Array($0.values) }) {
            let counts = gauge.read()
            rows.append(
                ActorRow(
                    name: gauge.name, kind: gauge.kind, depth: counts.depth, peak: counts.peak, capacity: gauge.capacity,
                    processedPerSecond: 0, processed: counts.dequeued, dropped: counts.dropped, restarts: 0
                )
            )
        }
        return rows
    }

    public func takeLatencies() async -> Histogram<UInt64> {
        var merged = LatencyHistogram.make()
        for part in await gather({ $0.takeLatencies() }) { merged.add(part) }
        return merged
    }
}
