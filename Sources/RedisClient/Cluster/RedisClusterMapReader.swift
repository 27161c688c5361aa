import NIOCore

/// Keeps a Redis Cluster's slot map for its owner (a ``RedisClusterClient`` or a
/// ``RedisShardedSubscriber``): asks for it every `interval`, and when asked; one request at a
/// time (asks made meanwhile are served by one more round), at most one every 200 ms when
/// failures ask for it. Asks masters through their ready connection when the owner has one, else
/// every node of the map, then the seeds, each on a connection of its own. While its owner is
/// not healthy (a master unreachable, waiting for its replica's promotion) it asks again every
/// 200 ms. Confined to its loop.
final class RedisClusterMapReader {
    let address: RedisAddress
    let eventLoop: any EventLoop
    private(set) var map: RedisClusterMap?
    /// A new map was read (not necessarily different).
    var onMap: (RedisClusterMap) -> Void = { _ in }
    /// No node gave a map, with why.
    var onFailure: (String) -> Void = { _ in }
    /// Whether the owner has all it needs (asked after each request; if not, another follows).
    var isHealthy: () -> Bool = { true }
    /// The ready connection to a master, when the owner has one.
    var readyConnection: (RedisAddress.Endpoint) -> RedisConnection? = { _ in nil }

    private var refreshing = false
    /// Callers waiting for the round after the one under way.
    private var nextRound: [EventLoopPromise<Void>]?
    private var lastRefresh = NIODeadline.distantPast
    private var scheduledRefresh: Scheduled<Void>?
    private var timer: RepeatedTask?
    private var stopped = false

    init(address: RedisAddress, eventLoop: any EventLoop) {
        self.address = address
        self.eventLoop = eventLoop
    }

    /// Asks now, then every `interval`.
    func start(every interval: Duration) {
        refresh()
        timer = eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) { [weak self] _ in
            self?.refresh()
        }
    }

    func stop() {
        stopped = true
        timer?.cancel()
        scheduledRefresh?.cancel()
    }

    /// Asks for the map now, or right after the request under way; completes once a map read
    /// after this call has been handed to ``onMap`` (or the request failed).
    @discardableResult func refresh() -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        guard !stopped else {
            promise.succeed()
            return promise.futureResult
        }
        guard !refreshing else {
            nextRound = (nextRound ?? []) + [promise]
            return promise.futureResult
        }
        refreshing = true
        lastRefresh = .now()
        ask(candidates()[...], failures: []).assumeIsolated().whenComplete { result in
            self.refreshing = false
            switch result {
            case .success(let map):
                self.map = map
                if !self.stopped { self.onMap(map) }
            case .failure(let error):
                self.onFailure("\(error)")
            }
            promise.succeed()
            if let waiting = self.nextRound {
                self.nextRound = nil
                self.refresh().cascade(to: waiting)
            } else if !self.isHealthy() {
                self.refreshSoon()
            }
        }
        return promise.futureResult
    }

    /// Asks soon: now if the last request was 200 ms ago or more, else then.
    func refreshSoon() {
        guard scheduledRefresh == nil else { return }
        let next = lastRefresh + .milliseconds(200)
        guard next > .now() else {
            refresh()
            return
        }
        scheduledRefresh = eventLoop.assumeIsolated().scheduleTask(deadline: next) {
            self.scheduledRefresh = nil
            self.refresh()
        }
    }

    /// Whom to ask: masters with a ready connection, then every node of the map, then the seeds.
    private func candidates() -> [RedisAddress.Endpoint] {
        var candidates = (map?.masters ?? []).filter { readyConnection($0) != nil }
        for shard in map?.shards ?? [] { candidates += [shard.master.endpoint] + shard.replicas.map(\.endpoint) }
        candidates += address.usesCluster ? address.seeds : [.init(host: address.host, port: address.port)]
        var seen = Set<RedisAddress.Endpoint>()
        return candidates.filter { seen.insert($0).inserted }
    }

    /// Asks each candidate in turn for `CLUSTER SLOTS` until one gives a map.
    private func ask(_ candidates: ArraySlice<RedisAddress.Endpoint>, failures: [String]) -> EventLoopFuture<RedisClusterMap> {
        guard let node = candidates.first else {
            return eventLoop.makeFailedFuture(RedisError.unavailable("no node gave the slot map: " + failures.joined(separator: "; ")))
        }
        let reply =
            readyConnection(node)?.send("CLUSTER", "SLOTS")
            ?? RedisQuestion.ask(["CLUSTER", "SLOTS"], of: node, username: address.username, password: address.password, on: eventLoop)
        return reply.flatMapThrowing { reply in
            guard let map = RedisClusterMap(slots: reply, answeredBy: node), !map.shards.isEmpty else {
                throw RedisError.reply("CLUSTER SLOTS answered no usable map")
            }
            return map
        }.flatMapError { error in
            self.ask(candidates.dropFirst(), failures: failures + ["\(node): \(error)"])
        }
    }
}

extension EventLoopFuture where Value == Void {
    /// Completes every promise of `promises` as this future completes.
    fileprivate func cascade(to promises: [EventLoopPromise<Void>]) {
        for promise in promises { cascade(to: promise) }
    }
}
