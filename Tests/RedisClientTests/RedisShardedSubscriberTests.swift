import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport
import Testing

/// Sharded pub/sub (`SSUBSCRIBE`, `SPUBLISH`) against a real Redis Cluster, through slot
/// migrations and failovers.
@Suite(.enabled(if: RedisClusterProcess.available, "needs redis-server and redis-cli"), .serialized)
struct RedisShardedSubscriberTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    final class Inbox: Sendable {
        let messages = NIOLockedValueBox<[String]>([])
        let resubscribed = NIOLockedValueBox<[[String]]>([])

        func has(_ message: String) -> Bool { messages.withLockedValue { $0.contains(message) } }
        func wasResubscribed(_ channel: String) -> Bool { resubscribed.withLockedValue { $0.contains { $0.contains(channel) } } }
    }

    /// A cluster, a client to publish with and a sharded subscriber (both up), for `body`;
    /// stopped after it.
    private func withCluster(
        _ body: (RedisClusterProcess, RedisClusterClient, RedisShardedSubscriber, Inbox) async throws -> Void
    ) async throws {
        let cluster = try await RedisClusterProcess()
        let configuration = RedisConnection.Configuration(
            address: cluster.address, requestDeadline: .seconds(5), maximumBackoff: .milliseconds(200), clientName: "sharded-tests")
        // Not refreshed by the clock within a test: server pushes, redirections and lost
        // connections make the maps follow.
        let client = RedisClusterClient(configuration: configuration, eventLoop: loop, refreshInterval: .seconds(600))
        let inbox = Inbox()
        let subscriber = RedisShardedSubscriber(
            configuration: configuration, eventLoop: loop, probeInterval: .milliseconds(500), refreshInterval: .seconds(600)
        ) { channel, payload in
            inbox.messages.withLockedValue { $0.append(String(buffer: channel) + "=" + String(buffer: payload)) }
        }
        subscriber.onResubscribe { channels in inbox.resubscribed.withLockedValue { $0.append(channels) } }
        client.start()
        subscriber.start()
        #expect(await eventually { client.isUp && subscriber.isUp })
        do {
            try await body(cluster, client, subscriber, inbox)
        } catch {
            Issue.record(error)
        }
        await subscriber.stop()
        await client.stop()
    }

    /// `SPUBLISH`es `payload` until a subscriber has it (true), for the time the deadline allows.
    private func publish(_ channel: String, _ payload: String, through client: RedisClusterClient) async -> Bool {
        await eventually { (try? await client.send("SPUBLISH", channel, payload).get()) == .integer(1) }
    }

    /// `SSUBSCRIBE` commands the node at `port` carried out since its statistics were reset.
    private func subscribeCommands(on port: Int, in cluster: RedisClusterProcess) throws -> Int {
        // `cmdstat_ssubscribe:calls=1,usec=…` (lines end with CRLF); no line before the first.
        let lines = try cluster.command(port, "INFO", "commandstats").split(whereSeparator: \.isNewline)
        let line = lines.first { $0.hasPrefix("cmdstat_ssubscribe:calls=") }
        return line.flatMap { Int($0.dropFirst("cmdstat_ssubscribe:calls=".count).prefix { $0.isNumber }) } ?? 0
    }

    /// Channels of one slot, as one partition's pub/sub names are.
    private static func partition(_ tag: String, channels: Int) -> [String] {
        (0..<channels).map { "sb:{\(tag)}{room-\($0)}" }
    }

    @Test func theChannelsOfOneSlotAreSubscribedAgainWithOneCommandAfterAReconnect() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            let channels = Self.partition("7", channels: 20)
            for channel in channels { try await subscriber.subscribe(channel).get() }
            let master = try cluster.master(owning: RedisSlot.of(channels[0]))
            try cluster.command(master.endpoint.port, "CONFIG", "RESETSTAT")
            try cluster.command(master.endpoint.port, "CLIENT", "KILL", "TYPE", "pubsub")
            #expect(await eventually { inbox.wasResubscribed(channels[0]) })
            for channel in channels { #expect(await publish(channel, "back", through: client)) }
            #expect(try subscribeCommands(on: master.endpoint.port, in: cluster) == 1)
        }
    }

    @Test func theChannelsOfASlotThatMovedAreSubscribedWithOneCommandOnItsNewMaster() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            let channels = Self.partition("moving", channels: 20)
            let slot = RedisSlot.of(channels[0])
            for channel in channels { try await subscriber.subscribe(channel).get() }
            let source = try cluster.master(owning: slot)
            let target = try #require(try cluster.masters().first { $0.id != source.id })
            try cluster.command(target.endpoint.port, "CONFIG", "RESETSTAT")
            try await cluster.migrate(slot: slot, to: target)
            #expect(await eventually { channels.allSatisfy(inbox.wasResubscribed) })
            for channel in channels { #expect(await publish(channel, "moved", through: client)) }
            #expect(try cluster.command(target.endpoint.port, "PUBSUB", "SHARDNUMSUB", channels[0]).split(whereSeparator: \.isNewline).last == "1")
            #expect(try subscribeCommands(on: target.endpoint.port, in: cluster) == 1)
        }
    }

    @Test func channelsOfSeveralSlotsSubscribedTogetherAreEachOnTheirMaster() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            // Subscribed at one moment, they share a write: one command per slot, none refused.
            let channels = (0..<8).flatMap { Self.partition("p\($0)", channels: 3) }
            let subscribed = channels.map { subscriber.subscribe($0) }
            for future in subscribed { try await future.get() }
            for channel in channels { #expect(try await client.send("SPUBLISH", channel, "hi").get() == .integer(1)) }
            #expect(await eventually { channels.allSatisfy { inbox.has("\($0)=hi") } })
        }
    }

    @Test func channelsOnEveryMasterReceiveAndUnsubscribeStops() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            let channels = try cluster.masters().map { master in (0...).lazy.map { "news:\($0)" }.first { master.serves(RedisSlot.of($0)) }! }
            for channel in channels { try await subscriber.subscribe(channel).get() }
            // Confirmed means its master has it: the very next SPUBLISH reaches it.
            for channel in channels { #expect(try await client.send("SPUBLISH", channel, "hello").get() == .integer(1)) }
            #expect(await eventually { channels.allSatisfy { inbox.has("\($0)=hello") } })
            subscriber.unsubscribe(channels[0])
            #expect(try await eventually { try await client.send("SPUBLISH", channels[0], "gone").get() == .integer(0) })
            #expect(try await client.send("SPUBLISH", channels[1], "still").get() == .integer(1))
        }
    }

    @Test func aChannelFollowsItsSlotToAnotherMaster() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            let channel = "moving-channel"
            let slot = RedisSlot.of(channel)
            try await subscriber.subscribe(channel).get()
            #expect(try await client.send("SPUBLISH", channel, "before").get() == .integer(1))
            let source = try cluster.master(owning: slot)
            let target = try #require(try cluster.masters().first { $0.id != source.id })
            try await cluster.migrate(slot: slot, to: target)
            // The source drops the channel (sunsubscribe); it is subscribed again on the target.
            #expect(await eventually { inbox.wasResubscribed(channel) })
            #expect(await publish(channel, "after", through: client))
            #expect(await eventually { inbox.has("\(channel)=after") })
            #expect(inbox.has("\(channel)=before"))
        }
    }

    @Test func aSubscriptionSentByAStaleMapIsRedirected() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            // The slot moves while nobody listens on it: the subscriber's map is stale, and the
            // former master answers its SSUBSCRIBE with MOVED.
            let channel = "stale-channel"
            let slot = RedisSlot.of(channel)
            let source = try cluster.master(owning: slot)
            let target = try #require(try cluster.masters().first { $0.id != source.id })
            try await cluster.migrate(slot: slot, to: target)
            try await subscriber.subscribe(channel).get()
            #expect(try await client.send("SPUBLISH", channel, "found").get() == .integer(1))
            #expect(await eventually { inbox.has("\(channel)=found") })
        }
    }

    @Test func aChannelFollowsItsSlotToThePromotedReplica() async throws {
        try await withCluster { cluster, client, subscriber, inbox in
            let channel = "failover-channel"
            let slot = RedisSlot.of(channel)
            try await subscriber.subscribe(channel).get()
            #expect(subscriber.mastersUp == Dictionary(uniqueKeysWithValues: try cluster.masters().map { ($0.endpoint, true) }))
            let former = try cluster.kill(masterOwning: slot)
            #expect(await eventually { !subscriber.isUp && subscriber.mastersUp[former.endpoint] == false })
            try await cluster.waitForFailover(of: slot, from: former)
            #expect(await eventually { inbox.wasResubscribed(channel) && subscriber.isUp })
            // The promoted replica's subscriber connection is up; the dead master's is gone.
            let masters = try cluster.masters().map(\.endpoint)
            #expect(await eventually { subscriber.mastersUp == Dictionary(uniqueKeysWithValues: masters.map { ($0, true) }) })
            #expect(await publish(channel, "after failover", through: client))
            #expect(await eventually { inbox.has("\(channel)=after failover") })
        }
    }
}
