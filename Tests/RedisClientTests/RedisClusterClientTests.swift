import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport
import Testing

/// The cluster client against a real Redis Cluster of three masters with one replica each.
@Suite(.enabled(if: RedisClusterProcess.available, "needs redis-server and redis-cli"), .serialized)
struct RedisClusterClientTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    private func client(_ cluster: RedisClusterProcess, acknowledgements: Int = 0) async throws -> RedisClusterClient {
        var configuration = RedisConnection.Configuration(
            address: cluster.address, requestDeadline: .seconds(5), maximumBackoff: .milliseconds(200), clientName: "cluster-tests")
        configuration.replicaAcknowledgements = acknowledgements
        // Not refreshed by the clock within a test: what the map follows, redirections and lost
        // connections make it follow.
        let client = RedisClusterClient(configuration: configuration, eventLoop: loop, refreshInterval: .seconds(600))
        client.start()
        #expect(await eventually { client.isUp })
        return client
    }

    /// One key served by each master, in the masters' order.
    private func keysOnEveryMaster(_ cluster: RedisClusterProcess, prefix: String = "key") throws -> [(key: String, master: RedisClusterProcess.Node)]
    {
        try cluster.masters().map { master in
            let key = (0...).lazy.map { "\(prefix):\($0)" }.first { master.serves(RedisSlot.of($0)) }!
            return (key, master)
        }
    }

    private func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func keysOnEveryMasterAreSetAndRead() async throws {
        let cluster = try await RedisClusterProcess()
        let client = try await client(cluster)
        defer { Task { await client.stop() } }
        let keys = try keysOnEveryMaster(cluster)
        #expect(keys.count == 3)
        for (key, _) in keys { #expect(try await client.send("SET", key, "value of \(key)").get().string == "OK") }
        for (key, master) in keys {
            #expect(try await client.send("GET", key).get().string == "value of \(key)")
            // Stored on the master that serves its slot.
            #expect(try cluster.command(master.endpoint.port, "GET", key) == "value of \(key)")
        }
        let routed = try await client.send([bytes("SET"), bytes("other"), bytes("x")], routedBy: bytes("other")).get()
        #expect(routed.string == "OK")
        #expect(client.shards.count == 3 && client.shards.allSatisfy { $0.connection.isUp && $0.role == "master" })
        // Each master's round trip, measured by a PING every second.
        #expect(await eventually { client.shards.allSatisfy { ($0.roundTrip ?? .zero) > .zero } })
        // The map the client follows is the one every node gives.
        let map = try #require(client.slotMap)
        #expect(Set(map.masters) == Set(try cluster.masters().map(\.endpoint)))
        #expect(map.coversEverySlot && map.shards.allSatisfy { $0.replicas.count == 1 })
        let connection = RedisConnection(
            configuration: .init(address: RedisAddress(host: "127.0.0.1", port: cluster.servers[5].port)), eventLoop: loop)
        connection.start()
        defer { Task { await connection.stop() } }
        #expect(await eventually { connection.isUp })
        #expect(RedisClusterMap(slots: try await connection.send("CLUSTER", "SLOTS").get()) == map)
    }

    @Test func scriptsRunOnTheMasterOfTheirFirstKeyAndAreLoadedAgain() async throws {
        let cluster = try await RedisClusterProcess()
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let client = try await client(cluster)
        client.register(script)
        defer { Task { await client.stop() } }
        let keys = try keysOnEveryMaster(cluster, prefix: "counter")
        for (key, _) in keys {
            #expect(try await client.evaluate(script, keys: [bytes(key)], arguments: [bytes("5")]).get() == .integer(5))
        }
        // A master that forgot its scripts answers NOSCRIPT: the script is sent whole again.
        for (_, master) in keys { try cluster.command(master.endpoint.port, "SCRIPT", "FLUSH") }
        for (key, master) in keys {
            #expect(try await client.evaluate(script, keys: [bytes(key)], arguments: [bytes("2")]).get() == .integer(7))
            #expect(try cluster.command(master.endpoint.port, "GET", key) == "7")
        }
        let keyless = RedisScript("return 42")
        #expect(try await client.evaluate(keyless, keys: [], arguments: []).get() == .integer(42))
    }

    @Test func writesFollowASlotThatMovesAndEachLandsOnce() async throws {
        let cluster = try await RedisClusterProcess()
        let client = try await client(cluster)
        defer { Task { await client.stop() } }
        let key = "moving-list"
        let slot = RedisSlot.of(key)
        let source = try cluster.master(owning: slot)
        let target = try #require(try cluster.masters().first { $0.id != source.id })
        let acked = NIOLockedValueBox<[Int]>([])
        let migrated = NIOLockedValueBox(false)
        let masterChanges = NIOLockedValueBox<[RedisClusterMap.MasterChange]>([])
        client.onMasterChange { changes in masterChanges.withLockedValue { $0 += changes } }
        let migrations = NIOLockedValueBox<[RedisClusterMap.MasterChange]>([])
        client.onMigration { moved in migrations.withLockedValue { $0 += moved } }
        let writer = Task {
            var index = 0
            // Writes go on until a while after the slot has moved, one at a time.
            while !migrated.withLockedValue({ $0 }) || index < 300 {
                if (try? await client.send("RPUSH", key, "\(index)").get()) != nil { acked.withLockedValue { $0.append(index) } }
                index += 1
            }
            return index
        }
        #expect(await eventually { acked.withLockedValue { $0.count } >= 50 })
        try await cluster.migrate(slot: slot, to: target)
        migrated.withLockedValue { $0 = true }
        let sent = await writer.value
        let stored = try cluster.command(target.endpoint.port, "LRANGE", key, "0", "-1").split(separator: "\n").compactMap { Int($0) }
        let written = acked.withLockedValue { $0 }
        #expect(written.count == sent, "every write succeeded, redirected when needed")
        #expect(stored == written, "each acknowledged write is there once, in order")
        #expect(client.redirects >= 1)
        #expect(await eventually { client.slotMap?.master(ofSlot: slot) == target.endpoint })
        #expect(masterChanges.withLockedValue { $0 }.isEmpty, "a migrated slot keeps its data: no master change")
        #expect(
            await eventually {
                migrations.withLockedValue { $0 } == [.init(from: source.endpoint, to: target.endpoint, slots: [slot...slot])]
            }, "the migration is told as one")
    }

    @Test func askIsFollowedDuringAHalfDoneMigration() async throws {
        let cluster = try await RedisClusterProcess()
        let client = try await client(cluster)
        defer { Task { await client.stop() } }
        let keys = ["{half}a", "{half}b", "{half}c"]
        for key in keys { _ = try await client.send("SET", key, key).get() }
        let slot = RedisSlot.of("{half}")
        let source = try cluster.master(owning: slot)
        let target = try #require(try cluster.masters().first { $0.id != source.id })
        try cluster.beginMigration(of: slot, from: source, to: target, keys: 1)
        // One key is on the target now: the source answers ASK for it.
        #expect(try cluster.command(target.endpoint.port, "CLUSTER", "COUNTKEYSINSLOT", "\(slot)") == "1")
        for key in keys { #expect(try await client.send("GET", key).get().string == key) }
        #expect(client.redirects == 1)
        // A new key of the migrating slot is created on the target (ASK, then ASKING + SET).
        #expect(try await client.send("SET", "{half}new", "fresh").get().string == "OK")
        #expect(try cluster.command(target.endpoint.port, "CLUSTER", "COUNTKEYSINSLOT", "\(slot)") == "2")
        #expect(client.redirects == 2)
        try await cluster.finishMigration(of: slot, from: source, to: target)
        for key in keys + ["{half}new"] { #expect(try await client.send("EXISTS", key).get() == .integer(1)) }
    }

    @Test func aKilledMastersSlotsComeBackThroughItsPromotedReplica() async throws {
        let cluster = try await RedisClusterProcess()
        let client = try await client(cluster, acknowledgements: 1)
        defer { Task { await client.stop() } }
        let lost = NIOLockedValueBox<[String]>([])
        let readies = NIOLockedValueBox(0)
        client.onLost { why in lost.withLockedValue { $0.append(why) } }
        // What the ready handlers saw reported before them: the slots' master changes.
        let changesBeforeReady = NIOLockedValueBox<[RedisClusterMap.MasterChange]>([])
        let changes = NIOLockedValueBox<[RedisClusterMap.MasterChange]>([])
        client.onMasterChange { new in changes.withLockedValue { $0 += new } }
        client.onReady {
            readies.withLockedValue { $0 += 1 }
            changesBeforeReady.withLockedValue { $0 = changes.withLockedValue { $0 } }
        }
        let key = "survivor"
        let slot = RedisSlot.of(key)
        // Confirmed by the replica, so it outlives its master.
        #expect(try await client.send([bytes("SET"), bytes(key), bytes("kept")], durable: true).get().string == "OK")
        let former = try cluster.kill(masterOwning: slot)
        #expect(await eventually { !client.isUp })
        #expect(!lost.withLockedValue { $0 }.isEmpty)
        // Requests fail or wait while the replica takes over, then succeed on the same client.
        #expect(await eventually(within: 60) { (try? await client.send("GET", key).get())?.string == "kept" })
        try await cluster.waitForFailover(of: slot, from: former)
        #expect(await eventually { client.isUp && client.slotMap?.master(ofSlot: slot) != former.endpoint })
        #expect(readies.withLockedValue { $0 } >= 1)
        let promoted = try #require(client.slotMap?.master(ofSlot: slot))
        let reported = changesBeforeReady.withLockedValue { $0 }
        #expect(reported.first?.from == former.endpoint && reported.first?.to == promoted, "\(reported)")
        #expect(reported.first?.slots.contains { $0.contains(slot) } == true && reported.first?.slots == former.slots, "\(reported)")
        #expect(try await client.send("SET", key, "after").get().string == "OK")
    }
}
