import NIOCore

/// Reading the slot map and following it: one refresh at a time, at most one every 200 ms when
/// failures ask for it, connections made for new masters and closed for former ones.
extension RedisClusterClient {
    /// Asks for the map now, or right after the refresh under way (on the loop).
    func refresh() {
        guard !isStopped else { return }
        guard !refreshing else {
            refreshAgain = true
            return
        }
        refreshing = true
        lastRefresh = .now()
        let candidates = mapCandidates()
        Self.askForMap(candidates[...], client: self, failures: []).assumeIsolated().whenComplete { result in
            self.refreshing = false
            switch result {
            case .success(let map):
                self.recordMapError(nil)
                self.apply(map)
            case .failure(let error):
                self.recordMapError("\(error)")
            }
            if self.refreshAgain {
                self.refreshAgain = false
                self.refresh()
            }
        }
    }

    /// Asks for the map soon: now if the last refresh was 200 ms ago or more, else then.
    func refreshSoon() {
        let next = lastRefresh + .milliseconds(200)
        guard scheduledRefresh == nil else { return }
        guard next > .now() else { return refresh() }
        scheduledRefresh = eventLoop.assumeIsolated().scheduleTask(deadline: next) {
            self.scheduledRefresh = nil
            self.refresh()
        }
    }

    /// Whom to ask: masters with a ready connection, then every node of the map, then the seeds.
    private func mapCandidates() -> [RedisAddress.Endpoint] {
        var candidates = connections.filter { $0.value.isUp }.map(\.key)
        for shard in map?.shards ?? [] { candidates += [shard.master.endpoint] + shard.replicas.map(\.endpoint) }
        candidates +=
            configuration.address.usesCluster
            ? configuration.address.seeds : [.init(host: configuration.address.host, port: configuration.address.port)]
        var seen = Set<RedisAddress.Endpoint>()
        return candidates.filter { seen.insert($0).inserted }
    }

    /// Asks each candidate in turn for `CLUSTER SLOTS`: on the master's connection when it is
    /// ready, else on a connection of its own.
    private static func askForMap(_ candidates: ArraySlice<RedisAddress.Endpoint>, client: RedisClusterClient, failures: [String])
        -> EventLoopFuture<RedisClusterMap>
    {
        let eventLoop = client.eventLoop
        guard let node = candidates.first else {
            return eventLoop.makeFailedFuture(RedisError.unavailable("no node gave the slot map: " + failures.joined(separator: "; ")))
        }
        let reply: EventLoopFuture<RESPValue>
        if let connection = client.connections[node], connection.isUp {
            reply = connection.send("CLUSTER", "SLOTS")
        } else {
            let address = client.configuration.address
            reply = RedisQuestion.ask(["CLUSTER", "SLOTS"], of: node, username: address.username, password: address.password, on: eventLoop)
        }
        return reply.flatMapThrowing { reply in
            guard let map = RedisClusterMap(slots: reply, answeredBy: node), !map.shards.isEmpty else {
                throw RedisError.reply("CLUSTER SLOTS answered no usable map")
            }
            return map
        }.flatMapError { error in
            askForMap(candidates.dropFirst(), client: client, failures: failures + ["\(node): \(error)"])
        }
    }

    /// Follows `new`: connections for its masters, none for other servers (on the loop).
    private func apply(_ new: RedisClusterMap) {
        guard !isStopped else { return }
        map = new
        publishRoutes()
        let masters = Set(new.masters)
        for (endpoint, connection) in connections where !masters.contains(endpoint) {
            connections[endpoint] = nil
            Task { await connection.stop() }
        }
        updateUp(why: "the slot map changed")
    }
}
