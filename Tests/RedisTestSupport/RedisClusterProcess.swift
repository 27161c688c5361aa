public import Foundation
public import RedisClient

/// A real Redis Cluster for one test: six `redis-server`s (three masters, one replica each) on
/// free loopback ports, without persistence, joined with `redis-cli --cluster create`; ready
/// once every node says `cluster_state:ok` and all agree on who serves which slot. Stopped by
/// pid when released. Tests that need it are skipped where redis-server is missing, like
/// ``RedisServerProcess``.
public final class RedisClusterProcess: @unchecked Sendable {
    public static let cli = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }
    /// Whether the tests that need a cluster can run here.
    public static var available: Bool { RedisServerProcess.available && cli != nil }

    /// A node as `CLUSTER NODES` lists it.
    public struct Node: Sendable, Equatable {
        public var id: String
        public var endpoint: RedisAddress.Endpoint
        public var isMaster: Bool
        /// The master a replica replicates.
        public var masterID: String?
        /// Marked failing (`fail` or `fail?`) by the node asked.
        public var isFailing: Bool
        public var slots: [ClosedRange<Int>]

        public func serves(_ slot: Int) -> Bool { slots.contains { $0.contains(slot) } }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Every server, masters and replicas, killed or not.
    public let servers: [RedisServerProcess]
    private var killed: Set<Int> = []

    /// Where the client starts: every node.
    public var seeds: [RedisAddress.Endpoint] { servers.map { RedisAddress.Endpoint(host: "127.0.0.1", port: $0.port) } }

    /// `redis+cluster://` with every node as a seed.
    public var address: RedisAddress {
        var address = RedisAddress(host: "127.0.0.1", port: servers[0].port)
        address.seeds = seeds
        return address
    }

    /// Starts the servers, creates the cluster and waits until it is settled.
    public init() async throws {
        var servers: [RedisServerProcess] = []
        var failures = 0
        while servers.count < 6 {
            // The bus port is free when chosen, but may be taken before the server binds it.
            do {
                servers.append(try RedisServerProcess(extraArguments: Self.nodeArguments(busPort: try RedisServerProcess.freePort())))
            } catch {
                failures += 1
                if failures == 5 { throw error }
            }
        }
        self.servers = servers
        let nodes = servers.map { "127.0.0.1:\($0.port)" }
        _ = try Self.run(["--cluster", "create"] + nodes + ["--cluster-replicas", "1", "--cluster-yes"])
        try await settled(until: { try self.replicasInSync() == 3 })
    }

    /// How many replicas have finished their first sync with their master.
    public func replicasInSync() throws -> Int {
        try liveServers.filter { server in
            let replication = try command(server.port, "INFO", "replication")
            return replication.contains("role:slave") && replication.contains("master_link_status:up")
        }.count
    }

    private static func nodeArguments(busPort: Int) -> [String] {
        ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000", "--cluster-port", "\(busPort)"]
    }

    deinit {
        for server in servers { server.kill() }
    }

    /// Runs `redis-cli` with `arguments`; its output.
    @discardableResult public static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli!)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw Failure(description: "redis-cli \(arguments.joined(separator: " ")): \(text)") }
        return text
    }

    /// Sends one command to the node at `port`; its reply as redis-cli prints it raw.
    @discardableResult public func command(_ port: Int, _ arguments: String...) throws -> String {
        try command(port, arguments)
    }

    @discardableResult public func command(_ port: Int, _ arguments: [String]) throws -> String {
        let reply = try Self.run(["-h", "127.0.0.1", "-p", "\(port)"] + arguments)
        if reply.hasPrefix("ERR") || reply.hasPrefix("MOVED") { throw Failure(description: "\(arguments.joined(separator: " ")): \(reply)") }
        return reply.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The servers not killed.
    public var liveServers: [RedisServerProcess] { servers.filter { !killed.contains($0.port) } }

    /// The cluster as the node at `port` sees it.
    public func nodes(seenBy port: Int) throws -> [Node] {
        try command(port, "CLUSTER", "NODES").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8, let address = fields[1].split(separator: "@").first, let colon = address.lastIndex(of: ":"),
                let nodePort = Int(address[address.index(after: colon)...])
            else { return nil }
            let flags = fields[2].split(separator: ",")
            let slots: [ClosedRange<Int>] = fields.dropFirst(8).compactMap { field in
                guard !field.hasPrefix("[") else { return nil }  // a migration under way
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                return bounds.count == 2 ? bounds[0]...bounds[1] : bounds.first.map { $0...$0 }
            }
            return Node(
                id: String(fields[0]), endpoint: .init(host: String(address[..<colon]), port: nodePort), isMaster: flags.contains("master"),
                masterID: fields[3] == "-" ? nil : String(fields[3]),
                isFailing: flags.contains("fail") || flags.contains("fail?"), slots: slots)
        }
    }

    /// The masters serving slots, as the first live node sees them.
    public func masters() throws -> [Node] {
        try nodes(seenBy: liveServers[0].port).filter { $0.isMaster && !$0.slots.isEmpty && !$0.isFailing }
    }

    /// The master serving `slot`.
    public func master(owning slot: Int) throws -> Node {
        guard let master = try masters().first(where: { $0.serves(slot) }) else { throw Failure(description: "no master serves slot \(slot)") }
        return master
    }

    /// Kills (SIGKILL) the master serving `slot`; the node it was.
    @discardableResult public func kill(masterOwning slot: Int) throws -> Node {
        let master = try master(owning: slot)
        guard let server = servers.first(where: { $0.port == master.endpoint.port }) else { throw Failure(description: "not ours: \(master)") }
        killed.insert(server.port)
        server.kill()
        return master
    }

    /// Waits until a replica of `former` serves `slot` and the live nodes are settled again.
    public func waitForFailover(of slot: Int, from former: Node) async throws {
        try await settled(until: { try self.master(owning: slot).id != former.id })
    }

    /// Moves `slot` (and its keys) to the master `target`: ``beginMigration(of:to:)``, then
    /// ``finishMigration(of:to:)``.
    public func migrate(slot: Int, to target: Node) async throws {
        let source = try master(owning: slot)
        try beginMigration(of: slot, from: source, to: target)
        try await finishMigration(of: slot, from: source, to: target)
    }

    /// Marks `slot` importing on `target` and migrating on `source`, and moves up to `keys` of its
    /// keys: a half-done migration, in which `source` answers `ASK` for keys it no longer has.
    public func beginMigration(of slot: Int, from source: Node, to target: Node, keys: Int = 0) throws {
        try command(target.endpoint.port, "CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", source.id)
        try command(source.endpoint.port, "CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", target.id)
        if keys > 0 { try moveKeys(of: slot, from: source, to: target, atMost: keys) }
    }

    /// Moves the rest of `slot`'s keys and gives the slot to `target` on every node.
    public func finishMigration(of slot: Int, from source: Node, to target: Node) async throws {
        try moveKeys(of: slot, from: source, to: target, atMost: .max)
        try command(target.endpoint.port, "CLUSTER", "SETSLOT", "\(slot)", "NODE", target.id)
        try command(source.endpoint.port, "CLUSTER", "SETSLOT", "\(slot)", "NODE", target.id)
        for server in liveServers where server.port != target.endpoint.port && server.port != source.endpoint.port {
            _ = try? command(server.port, "CLUSTER", "SETSLOT", "\(slot)", "NODE", target.id)
        }
        try await settled(until: { try self.master(owning: slot).id == target.id })
    }

    private func moveKeys(of slot: Int, from source: Node, to target: Node, atMost limit: Int) throws {
        var moved = 0
        while moved < limit {
            let batch = min(100, limit - moved)
            let keys = try command(source.endpoint.port, "CLUSTER", "GETKEYSINSLOT", "\(slot)", "\(batch)").split(separator: "\n").map(String.init)
            guard !keys.isEmpty else { return }
            try command(
                source.endpoint.port, ["MIGRATE", target.endpoint.host, "\(target.endpoint.port)", "", "0", "5000", "KEYS"] + keys)
            moved += keys.count
        }
    }

    /// Waits (30 s at most) until `condition` holds, every live node says `cluster_state:ok`, all
    /// of them agree on which master serves which slots and which replicas each has, and every
    /// live node is named in every node's `CLUSTER SLOTS` (it lists a new replica seconds after
    /// `CLUSTER NODES` does).
    public func settled(until condition: () throws -> Bool = { true }) async throws {
        let deadline = Date().addingTimeInterval(30)
        var last = "nothing asked yet"
        while Date() < deadline {
            do {
                let states = try liveServers.map { try command($0.port, "CLUSTER", "INFO") }
                let views = try liveServers.map { server in
                    try nodes(seenBy: server.port).filter { !$0.isFailing && ($0.masterID != nil || !$0.slots.isEmpty) }.map {
                        "\($0.id) \($0.slots) \($0.masterID ?? "master")"
                    }.sorted()
                }
                let ports = Set(liveServers.map { "\($0.port)" })
                let slotLists = try liveServers.map { Set(try command($0.port, "CLUSTER", "SLOTS").split(separator: "\n").map(String.init)) }
                if states.allSatisfy({ $0.contains("cluster_state:ok") }), Set(views).count == 1, slotLists.allSatisfy({ ports.isSubset(of: $0) }),
                    try condition()
                {
                    return
                }
                last = "states \(states.map { $0.contains("cluster_state:ok") }), \(Set(views).count) different views"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "the cluster did not settle within 30 s: \(last)")
    }
}
