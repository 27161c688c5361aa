import NIOCore
@testable import RedisClient
import Testing

/// `--redis` URLs: one server, or the master Redis Sentinel names; passwords never shown.
@Suite struct RedisAddressTests {
    @Test func oneServer() throws {
        let plain = try RedisAddress(url: "redis://127.0.0.1:6380/2")
        #expect(plain.host == "127.0.0.1" && plain.port == 6380 && plain.database == 2 && plain.password == nil && !plain.usesSentinel)
        #expect("\(plain)" == "redis://127.0.0.1:6380/2")
        let secured = try RedisAddress(url: "redis://app:p%40ss:w@redis.internal")
        #expect(secured.username == "app" && secured.password == "p@ss:w" && secured.port == 6379)
        #expect("\(secured)" == "redis://app:***@redis.internal:6379")
        #expect(try RedisAddress(url: "redis://:secret@[::1]:7000").host == "::1")
        #expect(try RedisAddress(url: "redis://:secret@[::1]:7000").password == "secret")
    }

    @Test func sentinel() throws {
        let address = try RedisAddress(url: "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2,[::1]:5000/mymaster/3")
        #expect(address.usesSentinel && address.masterName == "mymaster" && address.database == 3 && address.password == "pw")
        #expect(
            address.sentinels == [
                .init(host: "10.0.0.1", port: 26379), .init(host: "10.0.0.2", port: 26379), .init(host: "::1", port: 5000),
            ])
        #expect("\(address)" == "redis+sentinel://:***@10.0.0.1:26379,10.0.0.2:26379,[::1]:5000/mymaster/3")
    }

    @Test func cluster() throws {
        let address = try RedisAddress(url: "redis+cluster://app:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002")
        #expect(address.usesCluster && !address.usesSentinel && address.database == 0)
        #expect(address.username == "app" && address.password == "pw")
        #expect(address.seeds == [.init(host: "10.0.0.1", port: 7000), .init(host: "10.0.0.2", port: 6379), .init(host: "::1", port: 7002)])
        #expect(address.host == "10.0.0.1" && address.port == 7000)
        #expect("\(address)" == "redis+cluster://app:***@10.0.0.1:7000,10.0.0.2:6379,[::1]:7002")
        #expect(try RedisAddress(url: "redis+cluster://h:7000/0").seeds == [.init(host: "h", port: 7000)])
        #expect(try RedisAddress(url: "redis://h:7000").seeds.isEmpty)
        #expect(try !RedisAddress(url: "redis://h:7000").usesCluster)
    }

    @Test func aClusterHasOnlyDatabaseZero() {
        #expect(throws: RedisAddress.Invalid(description: "redis+cluster://h:7000/2 selects database 2, but a Redis Cluster has only database 0")) {
            try RedisAddress(url: "redis+cluster://h:7000/2")
        }
    }

    @Test func theRefusalListsEveryForm() {
        do {
            _ = try RedisAddress(url: "rediss://x")
            Issue.record("rediss:// was accepted")
        } catch {
            #expect(error.description.contains("redis+cluster://HOST:PORT[,HOST:PORT…]") && error.description.contains("redis+sentinel://"))
        }
    }

    @Test(arguments: [
        "http://x", "redis+cluster://", "redis+cluster://h:7000,", "redis+cluster://h:7000/1", "redis+cluster://h:7000/0/1", "redis://",
        "redis://h:0", "redis://h/x", "redis://a,b", "redis+sentinel://h:26379", "redis+sentinel://h:26379/",
        "redis+sentinel://h/m/1/2",
    ])
    func refused(_ url: String) {
        #expect(throws: RedisAddress.Invalid.self) { try RedisAddress(url: url) }
    }
}

/// What the sentinels publish on `+switch-master` when they promote a replica.
@Suite struct SentinelWatchTests {
    @Test func aSwitchNamesTheMasterAndBothAddresses() throws {
        let parsed = try #require(SentinelWatch.parse(ByteBuffer(string: "mymaster 127.0.0.1 6379 10.0.0.2 6380")))
        #expect(parsed.name == "mymaster")
        #expect(parsed.from == RedisAddress.Endpoint(host: "127.0.0.1", port: 6379))
        #expect(parsed.to == RedisAddress.Endpoint(host: "10.0.0.2", port: 6380))
    }

    @Test(arguments: ["", "mymaster 127.0.0.1 6379", "mymaster a b c d", "m 1 2 3 4 5"])
    func anythingElseIsNotASwitch(_ payload: String) {
        #expect(SentinelWatch.parse(ByteBuffer(string: payload)) == nil)
    }
}

/// `INFO replication`, as the nodes pane and `/api/nodes` show it.
@Suite struct ReplicationInfoTests {
    @Test func aMasterListsItsReplicasAndHowFarBehindEachIs() throws {
        let text = """
            # Replication\r
            role:master\r
            connected_slaves:2\r
            slave0:ip=127.0.0.1,port=6381,state=online,offset=1000,lag=0\r
            slave1:ip=10.0.0.3,port=6382,state=wait_bgsave,offset=0,lag=3\r
            master_failover_state:no-failover\r
            master_repl_offset:1200\r

            """
        let info = try #require(ReplicationInfo(info: text))
        #expect(info.role == "master")
        #expect(
            info.replicas == [
                ReplicationInfo.Replica(address: .init(host: "127.0.0.1", port: 6381), state: "online", lagSeconds: 0, behindBytes: 200),
                ReplicationInfo.Replica(address: .init(host: "10.0.0.3", port: 6382), state: "wait_bgsave", lagSeconds: 3, behindBytes: 1200),
            ])
        #expect(info.summary == "master, 2 replicas (lag 0 s, wait_bgsave)")
    }

    @Test func aLoneMasterAReplicaAndNonsense() {
        #expect(ReplicationInfo(info: "role:master\nconnected_slaves:0\nmaster_repl_offset:0\n")?.summary == "master, no replica")
        #expect(ReplicationInfo(info: "role:slave\nmaster_host:127.0.0.1\n")?.summary == "replica")
        #expect(ReplicationInfo(info: "ERR unknown section") == nil)
    }
}
