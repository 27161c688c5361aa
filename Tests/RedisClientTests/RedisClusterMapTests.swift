import RedisClient
import Testing

/// `CLUSTER SLOTS` replies as a map, and the redirections a cluster answers with.
@Suite struct RedisClusterMapTests {
    private func node(_ port: Int, _ id: String) -> RESPValue {
        .array([.bulk("127.0.0.1"), .integer(Int64(port)), .bulk(id), .array([])])
    }

    private func range(_ first: Int, _ last: Int, _ nodes: RESPValue...) -> RESPValue {
        .array([.integer(Int64(first)), .integer(Int64(last))] + nodes)
    }

    private func endpoint(_ port: Int) -> RedisAddress.Endpoint { .init(host: "127.0.0.1", port: port) }

    @Test func rangesBecomeShards() throws {
        // Master 7001 serves two ranges, reported apart; 7002 has two replicas, listed out of order.
        let reply = RESPValue.array([
            range(0, 5460, node(7000, "a"), node(7003, "d")),
            range(10923, 16383, node(7002, "c"), node(7005, "f"), node(7004, "e")),
            range(5461, 9000, node(7001, "b")),
            range(9001, 10922, node(7001, "b")),
        ])
        let map = try #require(RedisClusterMap(slots: reply))
        #expect(map.masters == [endpoint(7000), endpoint(7001), endpoint(7002)])
        #expect(map.shards[1].slots == [5461...10922])
        #expect(map.shards[0].master == .init(endpoint: endpoint(7000), id: "a"))
        #expect(map.shards[2].replicas.map(\.endpoint) == [endpoint(7004), endpoint(7005)])
        #expect(map.master(ofSlot: 0) == endpoint(7000))
        #expect(map.master(ofSlot: 9001) == endpoint(7001))
        #expect(map.master(ofSlot: 16383) == endpoint(7002))
        #expect(map.master(ofSlot: 16384) == nil)
        #expect(map.coversEverySlot)
        // Equal however the ranges were listed.
        let reordered = RESPValue.array([
            range(9001, 10922, node(7001, "b")), range(5461, 9000, node(7001, "b")),
            range(10923, 16383, node(7002, "c"), node(7004, "e"), node(7005, "f")), range(0, 5460, node(7000, "a"), node(7003, "d")),
        ])
        #expect(RedisClusterMap(slots: reordered) == map)
    }

    @Test func unservedSlotsAndUnknownHosts() throws {
        let reply = RESPValue.array([range(0, 99, .array([.bulk(""), .integer(7000)]))])
        let map = try #require(RedisClusterMap(slots: reply, answeredBy: .init(host: "10.0.0.9", port: 7000)))
        #expect(map.master(ofSlot: 99) == .init(host: "10.0.0.9", port: 7000))
        #expect(map.master(ofSlot: 100) == nil)
        #expect(!map.coversEverySlot)
        #expect(map.shards[0].master.id == nil)
    }

    @Test(arguments: [
        RESPValue.bulk("nope"), .array([.array([.integer(0)])]), .array([.array([.integer(5), .integer(1), .array([.bulk("h"), .integer(1)])])]),
        .array([.array([.integer(0), .integer(16384), .array([.bulk("h"), .integer(1)])])]),
        .array([.array([.integer(0), .integer(1), .array([.bulk("h"), .integer(0)])])]),
    ])
    func malformedReplies(_ reply: RESPValue) {
        #expect(RedisClusterMap(slots: reply) == nil)
    }

    @Test func masterChangesAreFailoversAndMigrationsAreTheRest() throws {
        let before = try #require(
            RedisClusterMap(
                slots: .array([
                    range(0, 5460, node(7000, "a"), node(7003, "d")), range(5461, 10922, node(7001, "b"), node(7004, "e")),
                    range(10923, 16383, node(7002, "c"), node(7005, "f")),
                ])))
        #expect(before.masterChanges(since: before).isEmpty)
        // 7004 promoted in place of 7001, and slot 100 migrated from 7000 to 7002: only the failover counts.
        let after = try #require(
            RedisClusterMap(
                slots: .array([
                    range(0, 99, node(7000, "a"), node(7003, "d")), range(100, 100, node(7002, "c"), node(7005, "f")),
                    range(101, 5460, node(7000, "a"), node(7003, "d")), range(5461, 10922, node(7004, "e")),
                    range(10923, 16383, node(7002, "c"), node(7005, "f")),
                ])))
        #expect(after.masterChanges(since: before) == [.init(from: endpoint(7001), to: endpoint(7004), slots: [5461...10922])])
        #expect(before.migrations(since: before).isEmpty)
        #expect(after.migrations(since: before) == [.init(from: endpoint(7000), to: endpoint(7002), slots: [100...100])])
        // A node new to the map that takes slots of two masters: one change per old master.
        let joined = try #require(
            RedisClusterMap(
                slots: .array([
                    range(0, 4999, node(7000, "a")), range(5000, 5999, node(7006, "g")), range(6000, 10922, node(7004, "e")),
                    range(10923, 16383, node(7002, "c")),
                ])))
        #expect(
            joined.masterChanges(since: after) == [
                .init(from: endpoint(7000), to: endpoint(7006), slots: [5000...5460]),
                .init(from: endpoint(7004), to: endpoint(7006), slots: [5461...5999]),
            ])
        #expect(joined.migrations(since: after) == [.init(from: endpoint(7002), to: endpoint(7000), slots: [100...100])])
    }

    @Test func redirections() {
        #expect(RedisClusterRedirect(error: "MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: endpoint(6381)))
        #expect(RedisClusterRedirect(error: "ASK 3999 127.0.0.1:6381") == .ask(slot: 3999, to: endpoint(6381)))
        #expect(RedisClusterRedirect(error: "MOVED 1 [::1]:7000") == .moved(slot: 1, to: .init(host: "::1", port: 7000)))
        #expect(
            RedisClusterRedirect(error: "CLUSTERDOWN The cluster is down") == .clusterDown("CLUSTERDOWN The cluster is down"))
        #expect(
            RedisClusterRedirect(error: "TRYAGAIN Multiple keys request during rehashing of slot")
                == .tryAgain("TRYAGAIN Multiple keys request during rehashing of slot"))
        #expect(RedisError.reply("MOVED 12182 10.0.0.2:7002").clusterRedirect == .moved(slot: 12182, to: .init(host: "10.0.0.2", port: 7002)))
        #expect(RedisError.unavailable("MOVED 1 h:1").clusterRedirect == nil)
        for other in ["ERR unknown command", "MOVED 3999", "MOVED x h:1", "MOVED 16384 h:1", "ASK 1 h:x", "ASK 1 :7000", "NOSCRIPT"] {
            #expect(RedisClusterRedirect(error: other) == nil, "\(other)")
        }
    }
}
