import Logging
import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport
import SwitchboardCore
import Synchronization
import Testing

@testable import SwitchboardServer

/// The cluster's Lua scripts and liveness rules against a real redis-server: two links with two
/// node names stand for two nodes (no hub, no sockets to clients).
@Suite(.enabled(if: RedisServerProcess.available, "needs redis-server (scripts/test.sh installs it)"), .serialized)
struct ClusterScriptTests {
    private func link(
        _ name: String, on server: RedisServerProcess, history: HistorySettings = HistorySettings(), keyLifetime: Duration = .seconds(60),
        webhooks: Bool = false
    ) async -> ClusterLink {
        var configuration = ClusterConfiguration()
        configuration.redis = server.address
        configuration.keyLifetime = keyLifetime
        let link = ClusterLink(
            configuration: configuration, history: history, address: server.address, nodeName: name,
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), announcesWebhooks: webhooks,
            logger: Logger(label: "test"))
        link.connection.start()
        _ = await eventually { link.connection.isUp }
        return link
    }

    private func redis(_ server: RedisServerProcess) async -> RedisConnection {
        let connection = RedisConnection(configuration: .init(address: server.address), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        connection.start()
        _ = await eventually { connection.isUp }
        return connection
    }

    /// The names the links use (64 partitions, the default).
    private let names = ClusterKeys(prefix: "switchboard", partitions: 64)

    private func key(_ channel: String, _ part: String) -> String { String(buffer: names.channelKey(channel, part)) }

    private let ann = PresenceMember(userID: "ann", info: Array("{\"name\":\"Ann\"}".utf8))

    /// The webhook announcements the scripts appended to `channel`'s partition's stream, oldest first.
    private func announcements(_ redis: RedisConnection, of channel: String = "room") async throws -> [String] {
        let stream = String(buffer: names.webhooks(names.partition(of: channel)))
        let entries = try await redis.send("XRANGE", stream, "-", "+").get().elements ?? []
        return entries.compactMap { entry in
            guard let fields = entry.elements?.last?.elements?.compactMap(\.string) else { return nil }
            return stride(from: 0, to: fields.count - 1, by: 2).map { "\(fields[$0])=\(fields[$0 + 1])" }.joined(separator: " ")
        }
    }

    @Test func exactlyOneNodeAnnouncesEachUsersFirstJoinAndLastLeaveHoweverOftenAsked() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server, webhooks: true)
        let b = await link("node-b", on: server, webhooks: true)
        let redis = await redis(server)
        #expect(try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c1").get())
        #expect(try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c2").get())  // a second tab on a
        #expect(try await b.join(ann, channel: "room", limit: 10, except: nil, from: "c3").get())
        #expect(try await b.join(ann, channel: "room", limit: 10, except: nil, from: "c3").get())  // sent again: changes nothing
        #expect(try await b.members(of: "room").get() == [ann])
        a.leave(userID: "ann", channel: "room", from: "c1")  // still on b
        b.leave(userID: "ann", channel: "room", from: "c3")
        b.leave(userID: "ann", channel: "room", from: "c3")  // sent again: nothing left to leave
        #expect(await eventually { (try? await a.members(of: "room").get()) == [] })
        #expect(try await announcements(redis) == ["k=member_added c=room u=ann", "k=member_removed c=room u=ann"])
    }

    @Test func theUserLimitIsClusterWide() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        #expect(try await a.join(ann, channel: "small", limit: 1, except: nil, from: "c1").get())
        #expect(try await !b.join(PresenceMember(userID: "bob", info: nil), channel: "small", limit: 1, except: nil, from: "c2").get())
        #expect(try await b.join(ann, channel: "small", limit: 1, except: nil, from: "c3").get())  // present users still come in
    }

    /// A node that re-asserts what it holds makes Redis agree, announcing each difference once;
    /// re-asserting the same again changes nothing.
    @Test func reassertingMakesRedisAgreeWithTheNodeAndAnnouncesEachChangeOnce() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server, webhooks: true)
        let redis = await redis(server)
        #expect(try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c1").get())
        _ = try await a.changeOccupancy("room", occupied: true).get()
        let bob = PresenceMember(userID: "bob", info: nil)
        // The node now holds bob (not ann) in "room" with 2 subscriptions, and "news" with 1.
        #expect(try await a.reassert(presence: [("room", bob)], channels: [("room", 2), ("news", 1)], quietly: false).get() == 3)
        #expect(try await a.members(of: "room").get() == [bob])
        let counts = try await a.channelCounts(prefix: "").get()
        #expect(counts["room"]?.subscriptions == 2 && counts["news"]?.subscriptions == 1)
        #expect(try await a.reassert(presence: [("room", bob)], channels: [("room", 2), ("news", 1)], quietly: false).get() == 0)
        // Then it holds nothing: bob leaves, both channels are vacated.
        #expect(try await a.reassert(presence: [], channels: [], quietly: false).get() == 3)
        #expect(try await a.members(of: "room").get() == [])
        #expect(try await a.channelCounts(prefix: "").get().isEmpty)
        #expect(
            try await (announcements(redis) + announcements(redis, of: "news")).sorted()
                == [
                    "k=member_added c=room u=ann", "k=channel_occupied c=room u=", "k=member_added c=room u=bob", "k=member_removed c=room u=ann",
                    "k=channel_occupied c=news u=", "k=member_removed c=room u=bob", "k=channel_vacated c=room u=", "k=channel_vacated c=news u=",
                ].sorted())
    }

    @Test func membersComeInJoinOrderWithTheirInfo() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        for user in ["zoe", "adam", "mia"] {
            _ = try await a.join(PresenceMember(userID: user, info: nil), channel: "room", limit: 10, except: nil, from: "c").get()
        }
        _ = try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c").get()
        let members = try await a.members(of: "room").get()
        #expect(members.map(\.userID) == ["zoe", "adam", "mia", "ann"])
        #expect(members.last?.info == ann.info && members.first?.info == nil)
    }

    /// Every key presence, occupancy and counts write has a lifetime, which the node renews;
    /// once nobody renews them (every node gone), they expire on their own.
    @Test func theClustersKeysExpireOnTheirOwnOnceNoNodeRenewsThem() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server, keyLifetime: .seconds(3))
        let redis = await redis(server)
        _ = try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c1").get()
        _ = try await a.changeOccupancy("room", occupied: true).get()
        _ = try await a.setSubscriptions("room", to: 1).get()
        func keys() async throws -> [String] {
            (try await redis.send("KEYS", "switchboard:*").get().elements ?? []).compactMap(\.string).sorted()
        }
        func lifetime(_ key: String) async throws -> Int {
            guard case .integer(let milliseconds) = try await redis.send("PTTL", key).get() else { return -3 }
            return Int(milliseconds)
        }
        #expect(await eventually { (try? await keys().count) == 9 })
        let written = try await keys()
        #expect(
            written
                == (["channels", "node:node-a:channels", "node:node-a:presence"].map { names.partitionStem(names.partition(of: "room")) + ":" + $0 }
                + ["info", "joins", "members", "nodes", "order", "subs"].map { key("room", $0) }).sorted(), "\(written)")
        for key in written {
            let left = try await lifetime(key)
            #expect((1...3000).contains(left), "\(key): \(left) ms")
        }
        // Once a second of the lifetime has passed, a renewal shows however slowly the checks run
        // (comparing with the first reading failed on a loaded machine: the reads after the
        // renewal took longer than the wait before it).
        let before = 2000
        #expect(await eventually { (try? await lifetime(key("room", "order"))).map { $0 < before } ?? false })
        try await a.renewKeys()
        #expect(try await lifetime(key("room", "order")) > before)
        #expect(try await lifetime(String(buffer: names.node("node-a", "channels", in: names.partition(of: "room")))) > before)
        let expired = await eventually { (try? await keys()) == [] }
        let left = try await keys()
        #expect(expired, "the keys outlived their lifetime: \(left)")
    }

    @Test func occupancyChangesOnceForTheCluster() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        #expect(try await a.changeOccupancy("news", occupied: true).get() == .integer(1))
        #expect(try await b.changeOccupancy("news", occupied: true).get() == .integer(0))
        #expect(try await a.changeOccupancy("news", occupied: true).get() == .integer(0))  // sent again: changes nothing
        #expect(try await a.changeOccupancy("news", occupied: false).get() == .integer(0))
        #expect(try await b.changeOccupancy("news", occupied: false).get() == .integer(1))
    }

    @Test func publishesAreNumberedOncePerChannel() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        let message = Publication(channel: "news", kind: .message(event: nil, user: nil), data: ByteBuffer(string: "1"), from: "api")
        #expect(try await a.publish(message).get() == PublishOutcome(seq: 1, duplicate: false))
        #expect(try await b.publish(message).get() == PublishOutcome(seq: 2, duplicate: false))
        var other = message
        other.channel = "other"
        #expect(try await b.publish(other).get() == PublishOutcome(seq: 1, duplicate: false))
    }

    @Test func aRetriedPublishWithTheSameKeyIsAnsweredWithTheFirstSeqFromAnyNode() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        var message = Publication(channel: "news", kind: .message(event: nil, user: nil), data: ByteBuffer(string: "1"), from: "api")
        message.idempotencyKey = "order-17"
        #expect(try await a.publish(message).get() == PublishOutcome(seq: 1, duplicate: false))
        #expect(try await b.publish(message).get() == PublishOutcome(seq: 1, duplicate: true))
        #expect(try await a.publish(message).get() == PublishOutcome(seq: 1, duplicate: true))
        // Numbering went on only for new publishes; the same key on another channel is another key.
        var unkeyed = message
        unkeyed.idempotencyKey = nil
        #expect(try await b.publish(unkeyed).get() == PublishOutcome(seq: 2, duplicate: false))
        var elsewhere = message
        elsewhere.channel = "other"
        #expect(try await b.publish(elsewhere).get() == PublishOutcome(seq: 1, duplicate: false))
    }

    @Test func aSilentNodeIsSweptOnceWithItsPresenceAndOccupancy() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        #expect(await a.nodes.beat(report: "\"address\":\"a\"") == .beating([]))
        #expect(await b.nodes.beat(report: "\"address\":\"b\"") == .beating([]))
        _ = try await b.join(ann, channel: "room", limit: 10, except: nil, from: "c1").get()
        _ = try await a.join(PresenceMember(userID: "bob", info: nil), channel: "room", limit: 10, except: nil, from: "c2").get()
        _ = try await b.join(PresenceMember(userID: "bob", info: nil), channel: "room", limit: 10, except: nil, from: "c3").get()
        _ = try await b.changeOccupancy("only-b", occupied: true).get()
        _ = try await b.changeOccupancy("room", occupied: true).get()
        _ = try await a.changeOccupancy("room", occupied: true).get()
        // node-b's last heartbeat, moved ten seconds into the past.
        let direct = await redis(server)
        let clock = try await direct.send("TIME").get().elements ?? []
        let now = (Int(clock[0].string ?? "0") ?? 0) * 1000
        _ = try await direct.send("ZADD", "switchboard:{nodes}:seen", String(now - 10_000), "node-b").get()
        let swept = await a.nodes.beat(report: "\"address\":\"a\"")
        // The death first; then what undoing node-b's part changed, partition by partition.
        guard case .beating(let changes) = swept else {
            Issue.record("\(swept)")
            return
        }
        #expect(changes.first == .nodeDead("node-b") && changes.count == 3, "\(changes)")
        #expect(changes.contains(.memberLeft(channel: "room", user: "ann")) && changes.contains(.vacated(channel: "only-b")), "\(changes)")
        #expect(try await a.members(of: "room").get().map(\.userID) == ["bob"])  // bob is still on node-a
        #expect(await a.nodes.beat(report: "\"address\":\"a\"") == .beating([]))  // swept once
        #expect(try await a.nodes.nodes().map(\.name) == ["node-a"])
        // node-b comes back: its entry is gone, so it is fenced and joins again, loudly.
        #expect(await b.nodes.beat(report: "\"address\":\"b\"") == .rejoin(quietly: false))
        #expect(await b.nodes.beat(report: "\"address\":\"b\"") == .beating([]))
        // Redis loses everything: the next beat rejoins, quietly.
        _ = try await direct.send("FLUSHALL").get()
        #expect(await a.nodes.beat(report: "\"address\":\"a\"") == .rejoin(quietly: true))
    }

    /// Every script touches only keys it was given (issue 30: Redis Cluster refuses a key of
    /// another slot, but not an undeclared key of the script's own slot, so nothing else would
    /// tell). Each script runs, the ones that find names in Redis with names there that their
    /// caller did not give them, watched by MONITOR; a key any command of a script names (as
    /// `COMMAND GETKEYS` tells) must be among its `KEYS`. A script that builds a key itself is
    /// caught, which the first one shows.
    @Test func everyScriptTouchesOnlyKeysItWasGiven() async throws {
        let server = try RedisServerProcess()
        let monitor = try await RedisMonitor(port: server.port)
        let redis = await redis(server)
        _ = try await redis.send("EVAL", "return redis.call('EXISTS', 'built-inside')", "0").get()
        let a = await link("node-a", on: server, history: keeping(10), webhooks: true)
        let b = await link("node-b", on: server, history: keeping(10), webhooks: true)
        let bob = PresenceMember(userID: "bob", info: nil)
        #expect(await a.nodes.beat(report: "\"address\":\"a\"") == .beating([]))
        #expect(await b.nodes.beat(report: "\"address\":\"b\"") == .beating([]))
        // One script per channel.
        _ = try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c1").get()
        _ = try await b.join(bob, channel: "room", limit: 10, except: nil, from: "c2").get()
        _ = try await b.changeOccupancy("room", occupied: true).get()
        _ = try await b.setSubscriptions("room", to: 1).get()
        _ = try await a.members(of: "room").get()
        a.leave(userID: "ann", channel: "room", from: "c1")
        #expect(await eventually { (try? await a.members(of: "room").get()) == [bob] })
        var keyed = message("news", 1)
        keyed.idempotencyKey = "once"
        _ = try await a.publish(keyed).get()
        _ = try await a.publish(message("kept:news", 1)).get()
        let policy = try #require(keeping(10).policy(for: "kept:news"))
        _ = try await a.readHistory("kept:news", policy: policy, .position).get()
        _ = try await a.fence("kept:news", after: 1, known: nil, backwards: false).get()
        a.publishMarker("news") { Issue.record("Redis did not take the marker") }  // runs before node-a's next script
        // Scripts that act on channels Redis holds for the node: node-a holds none (it has no
        // hub), so each finds ones it was not given.
        #expect(try await a.reassert(presence: [("lobby", bob)], channels: [("lobby", 1), ("room", 2)], quietly: false).get() == 3)
        try await a.renewKeys()
        #expect(try await a.channelCounts(prefix: "").get().mapValues(\.subscriptions) == ["lobby": 1, "room": 3])
        #expect(try await a.reassert(presence: [], channels: [], quietly: false).get() == 3)
        // Counts of users on the other nodes.
        try await b.writeUserCounts(["dora": 1], replacing: true)
        #expect(await b.nodes.beat(report: "\"address\":\"b\"") == .beating([]))
        #expect(await a.admitUser("dora", localCount: 1, limit: 1) == .tooMany)
        #expect(a.admissionPeers.withLock { $0 } == ["node-b"])  // given from the start next time
        #expect(await a.admitUser("eve", localCount: 1, limit: 1) == .admitted)
        // node-b falls silent: the sweep and the undo find a dead node and its channels.
        let clock = try await redis.send("TIME").get().elements ?? []
        let now = (Int(clock[0].string ?? "0") ?? 0) * 1000
        _ = try await redis.send("ZADD", String(buffer: names.registry("seen")), String(now - 10_000), "node-b").get()
        let swept = await a.nodes.beat(report: "\"address\":\"a\"")
        #expect(swept == .beating([.nodeDead("node-b"), .memberLeft(channel: "room", user: "bob"), .vacated(channel: "room")]), "\(swept)")
        _ = try await a.nodes.nodes()
        _ = await a.nodes.epochForReassert()

        let (undeclared, ran) = try await undeclaredKeys(in: monitor.commands(through: redis), askingKeysOf: redis)
        let source = RedisScript("return redis.call('EXISTS', 'built-inside')").sha1
        #expect(undeclared == ["\(source): EXISTS built-inside"])
        let scripts = (ClusterLink.scripts + NodeRegistry.scripts).map(\.plain.sha1)
        #expect(Set(scripts).subtracting(ran).isEmpty, "scripts that did not run: \(Set(scripts).subtracting(ran))")
    }

    // MARK: - History in Redis streams

    private func keeping(_ size: Int) -> HistorySettings {
        var settings = HistorySettings()
        settings.rules = [HistorySettings.Rule(pattern: "kept:*", size: size, ttl: .seconds(60))]
        return settings
    }

    private func message(_ channel: String, _ n: Int) -> Publication {
        Publication(channel: channel, kind: .message(event: nil, user: nil), data: ByteBuffer(string: "\(n)"), from: "c\(n)", except: nil)
    }

    private func texts(_ answer: ClusterLink.HistoryAnswer) -> [String] {
        answer.messages.map { "\($0.seq):\(String(buffer: $0.publication.data))" }
    }

    @Test func theNumberingScriptKeepsWhatItPublishesBoundedBySize() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server, history: keeping(5))
        let b = await link("node-b", on: server, history: keeping(5))
        let policy = try #require(keeping(5).policy(for: "kept:news"))
        for n in 1...250 { _ = try await (n.isMultiple(of: 2) ? a : b).publish(message("kept:news", n)).get() }
        // Not kept: a channel no rule matches is numbered but has no stream.
        _ = try await a.publish(message("plain", 1)).get()
        let redis = await redis(server)
        #expect(try await redis.send("EXISTS", key("plain", "history")).get().int == 0)
        let start = try await b.readHistory("kept:news", policy: policy, .position).get()
        #expect(start.position.seq == 250 && start.complete && start.messages.isEmpty)
        let epoch = start.position.epoch
        // The stream is trimmed to about the size (Redis drops whole stream nodes), but history is
        // exactly the last 5: 245 can resume (it missed 246…250), 244 cannot.
        let kept = try #require(try await redis.send("XLEN", key("kept:news", "history")).get().int)
        #expect(kept >= 5 && kept <= 105)
        let recovered = try await a.readHistory("kept:news", policy: policy, .recover(StreamPosition(seq: 245, epoch: epoch))).get()
        #expect(recovered.complete && texts(recovered) == ["246:246", "247:247", "248:248", "249:249", "250:250"])
        let tooOld = try await a.readHistory("kept:news", policy: policy, .recover(StreamPosition(seq: 244, epoch: epoch))).get()
        #expect(!tooOld.complete && tooOld.messages.isEmpty)
        // A gap is filled from whatever the stream still holds.
        let firstKept = 250 - UInt64(kept) + 1
        let gap = try await a.readHistory("kept:news", policy: policy, .range(after: firstKept - 1, count: 3)).get()
        #expect(gap.complete && gap.messages.map(\.seq) == [firstKept, firstKept + 1, firstKept + 2])
        let otherEpoch = try await a.readHistory("kept:news", policy: policy, .recover(StreamPosition(seq: 249, epoch: "nope"))).get()
        #expect(!otherEpoch.complete)
        let upToDate = try await a.readHistory("kept:news", policy: policy, .recover(StreamPosition(seq: 250, epoch: epoch))).get()
        #expect(upToDate.complete && upToDate.messages.isEmpty)
        // Pages (at most the size): the latest, or the first after since; a gap's range.
        #expect(texts(try await a.readHistory("kept:news", policy: policy, .page(since: nil, epoch: nil, limit: 2)).get()) == ["249:249", "250:250"])
        #expect(
            texts(try await a.readHistory("kept:news", policy: policy, .page(since: 246, epoch: epoch, limit: 2)).get()) == ["247:247", "248:248"])
        #expect(try await a.readHistory("kept:news", policy: policy, .page(since: nil, epoch: nil, limit: 50)).get().messages.count == 5)
        #expect(try await a.readHistory("kept:news", policy: policy, .page(since: 244, epoch: nil, limit: 2)).get().complete == false)
        #expect(texts(try await a.readHistory("kept:news", policy: policy, .range(after: 240, count: 2)).get()) == ["241:241", "242:242"])
        // The publication read back is the one published.
        let first = try #require(recovered.messages.first?.publication)
        #expect(first.channel == "kept:news" && first.from == "c246")
    }

    @Test func aLostEpochIsReplacedAndNothingBeforeItIsRecovered() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server, history: keeping(100))
        let policy = try #require(keeping(100).policy(for: "kept:x"))
        for n in 1...3 { _ = try await a.publish(message("kept:x", n)).get() }
        let before = try await a.readHistory("kept:x", policy: policy, .position).get().position
        let redis = await redis(server)
        // The history expired (the epoch went with it): a new epoch, an empty stream, the numbering goes on.
        _ = try await redis.send("DEL", key("kept:x", "epoch")).get()
        let after = try await a.readHistory("kept:x", policy: policy, .position).get().position
        #expect(after.seq == 3 && after.epoch != before.epoch)
        #expect(try await a.readHistory("kept:x", policy: policy, .recover(StreamPosition(seq: 1, epoch: before.epoch))).get().complete == false)
        #expect(try await redis.send("XLEN", key("kept:x", "history")).get().int == 0)
        _ = try await a.publish(message("kept:x", 4)).get()
        let resumed = try await a.readHistory("kept:x", policy: policy, .recover(after)).get()
        #expect(resumed.complete && texts(resumed) == ["4:4"])
        // Both keys live for the time to live after the last publish.
        let ttl = try await redis.send("PTTL", key("kept:x", "history")).get().int ?? -1
        #expect(ttl > 0 && ttl <= 60_000)
        #expect((try await redis.send("PTTL", key("kept:x", "epoch")).get().int ?? -1) > 0)
    }

    // MARK: - Fencing after a failover

    /// A promoted replica that lagged stands behind what the nodes delivered: the first fence moves
    /// the channel to a new epoch after the highest delivered `seq` and drops its history; fences
    /// from other nodes, or the same one again, change nothing more.
    @Test func aFenceMovesANumberingThatWentBackToANewEpochOnce() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server, history: keeping(100))
        let b = await link("node-b", on: server, history: keeping(100))
        let redis = await redis(server)
        let policy = try #require(keeping(100).policy(for: "kept:f"))
        for n in 1...5 { _ = try await a.publish(message("kept:f", n)).get() }
        let old = try await a.readHistory("kept:f", policy: policy, .position).get().position
        #expect(try await a.fence("kept:f", after: 5, known: old.epoch, backwards: false).get() == .init(seq: 5, epoch: old.epoch, fenced: false))
        _ = try await redis.send("SET", key("kept:f", "seq"), "2").get()  // the new master had only 1 and 2
        let fenced = try await a.fence("kept:f", after: 5, known: old.epoch, backwards: false).get()
        #expect(fenced.fenced && fenced.seq == 5 && fenced.epoch != old.epoch)
        #expect(try await redis.send("XLEN", key("kept:f", "history")).get().int == 0)
        // Again, from this node or another one that delivered less: already fenced.
        #expect(try await a.fence("kept:f", after: 5, known: old.epoch, backwards: false).get() == .init(seq: 5, epoch: fenced.epoch, fenced: false))
        #expect(try await b.fence("kept:f", after: 4, known: old.epoch, backwards: true).get() == .init(seq: 5, epoch: fenced.epoch, fenced: false))
        #expect(
            try await b.fence("kept:f", after: 5, known: fenced.epoch, backwards: false).get() == .init(seq: 5, epoch: fenced.epoch, fenced: false))
        // The numbering goes on after 5 in the new epoch; nothing of the old one is recovered.
        #expect(try await b.publish(message("kept:f", 6)).get() == PublishOutcome(seq: 6, duplicate: false))
        #expect(try await a.readHistory("kept:f", policy: policy, .recover(old)).get().complete == false)
        let resumed = try await a.readHistory("kept:f", policy: policy, .recover(StreamPosition(seq: 5, epoch: fenced.epoch))).get()
        #expect(resumed.complete && texts(resumed) == ["6:6"])
        // A node that saw a number again under the epoch it knows fences even when not behind.
        let again = try await a.fence("kept:f", after: 3, known: fenced.epoch, backwards: true).get()
        #expect(again.fenced && again.seq == 6 && again.epoch != fenced.epoch)
        // Redis lost the channel's epoch: the numbering began again already; a new epoch, nothing raised.
        _ = try await redis.send("DEL", key("kept:f", "epoch")).get()
        let lost = try await a.fence("kept:f", after: 10, known: again.epoch, backwards: true).get()
        #expect(!lost.fenced && lost.seq == 6 && lost.epoch != again.epoch)
        #expect((try await redis.send("PTTL", key("kept:f", "epoch")).get().int ?? -1) > 0)
    }

    /// A channel without history gets an epoch key of its own (kept as long as its sequence), and
    /// is fenced like any other; a node that knows no epoch yet fences whenever it saw a number again.
    @Test func aChannelWithoutHistoryIsFencedInAnEpochOfItsOwn() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let redis = await redis(server)
        for n in 1...3 { _ = try await a.publish(message("plain", n)).get() }
        let learned = try await a.fence("plain", after: 0, known: nil, backwards: false).get()
        #expect(!learned.fenced && learned.seq == 3)
        #expect(try await redis.send("PTTL", key("plain", "epoch")).get().int == -1)
        _ = try await redis.send("SET", key("plain", "seq"), "1").get()
        let fenced = try await a.fence("plain", after: 3, known: learned.epoch, backwards: false).get()
        #expect(fenced.fenced && fenced.seq == 3 && fenced.epoch != learned.epoch)
        #expect(try await a.publish(message("plain", 4)).get() == PublishOutcome(seq: 4, duplicate: false))
        let unknown = try await a.fence("plain", after: 2, known: nil, backwards: true).get()
        #expect(unknown.fenced && unknown.seq == 4 && unknown.epoch != fenced.epoch)
    }
}
