import Logging
import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// The cluster's Lua scripts and liveness rules against a real redis-server: two links with two
/// node names stand for two nodes (no hub, no sockets to clients).
@Suite(.enabled(if: RedisServerProcess.available, "needs redis-server (scripts/test.sh installs it)"), .serialized)
struct ClusterScriptTests {
    private func link(_ name: String, on server: RedisServerProcess) async -> ClusterLink {
        var configuration = ClusterConfiguration()
        configuration.redis = server.address
        let link = ClusterLink(
            configuration: configuration, address: server.address, nodeName: name, eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
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

    private let ann = PresenceMember(userID: "ann", info: Array("{\"name\":\"Ann\"}".utf8))

    @Test func exactlyOneNodeSeesEachUsersFirstJoinAndLastLeave() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        #expect(try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c1").get() == .joined)
        #expect(try await a.join(ann, channel: "room", limit: 10, except: nil, from: "c2").get() == .alreadyPresent)  // a second tab on a
        #expect(try await b.join(ann, channel: "room", limit: 10, except: nil, from: "c3").get() == .alreadyPresent)
        #expect(try await b.members(of: "room").get() == [ann])
        #expect(try await a.leave(userID: "ann", channel: "room", from: "c1").get() == false)  // still on b
        #expect(try await b.leave(userID: "ann", channel: "room", from: "c3").get() == true)
        #expect(try await b.leave(userID: "ann", channel: "room", from: "c3").get() == false)  // nothing left to leave
        #expect(try await a.members(of: "room").get() == [])
    }

    @Test func theUserLimitIsClusterWide() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        #expect(try await a.join(ann, channel: "small", limit: 1, except: nil, from: "c1").get() == .joined)
        #expect(try await b.join(PresenceMember(userID: "bob", info: nil), channel: "small", limit: 1, except: nil, from: "c2").get() == .full)
        #expect(try await b.join(ann, channel: "small", limit: 1, except: nil, from: "c3").get() == .alreadyPresent)  // present users still come in
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

    @Test func occupancyChangesOnceForTheCluster() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        #expect(try await a.changeOccupancy("news", occupied: true).get() == true)
        #expect(try await b.changeOccupancy("news", occupied: true).get() == false)
        #expect(try await a.changeOccupancy("news", occupied: false).get() == false)
        #expect(try await b.changeOccupancy("news", occupied: false).get() == true)
    }

    @Test func publishesAreNumberedOncePerChannel() async throws {
        let server = try RedisServerProcess()
        let a = await link("node-a", on: server)
        let b = await link("node-b", on: server)
        let message = Publication(channel: "news", kind: .message(event: nil, user: nil), data: ByteBuffer(string: "1"), from: "api")
        #expect(try await a.publish(message).get() == 1)
        #expect(try await b.publish(message).get() == 2)
        var other = message
        other.channel = "other"
        #expect(try await b.publish(other).get() == 1)
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
        _ = try await direct.send("ZADD", "switchboard:nodes:seen", String(now - 10_000), "node-b").get()
        let swept = await a.nodes.beat(report: "\"address\":\"a\"")
        #expect(swept == .beating([.nodeDead("node-b"), .memberLeft(channel: "room", user: "ann"), .vacated(channel: "only-b")]))
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
}
