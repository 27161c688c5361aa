import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport
import Testing

/// Keys to hash slots, as Redis Cluster computes them (values checked with `CLUSTER KEYSLOT`).
@Suite struct RedisSlotTests {
    /// Keys and their slots, as a Redis 7.0 server answered `CLUSTER KEYSLOT`.
    static let known: [(key: String, slot: Int)] = [
        ("123456789", 12739), ("foo", 12182), ("bar", 5061), ("hello", 866), ("{user1000}.following", 3443),
        ("{user1000}.followers", 3443), ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("{bar", 4015), ("foo{bar}{zap}", 5061), ("", 0),
        ("{}", 15257), ("a{b", 13340), ("x}y{z}", 8157),
    ]

    @Test func theChecksumIsCRC16XModem() {
        #expect(RedisSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisSlot.crc16([UInt8]()) == 0)
    }

    @Test func knownKeys() {
        for (key, slot) in Self.known {
            #expect(RedisSlot.of(key) == slot, "\(key)")
            #expect(RedisSlot.of(ByteBuffer(string: key).readableBytesView) == slot, "\(key) as bytes")
        }
    }

    @Test func hashTags() {
        #expect(RedisSlot.of("{user1000}.following") == RedisSlot.of("{user1000}.followers"))
        #expect(RedisSlot.of("foo{}{bar}") == RedisSlot.of(Array("foo{}{bar}".utf8)))
        #expect(RedisSlot.of("foo{{bar}}zap") == RedisSlot.of("{bar"))
        #expect(RedisSlot.of("foo{bar}{zap}") == RedisSlot.of("bar"))
    }

    @Test(.enabled(if: RedisServerProcess.available, "needs redis-server")) func aClusterServerAgrees() async throws {
        let server = try RedisServerProcess(extraArguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
        let connection = RedisConnection(configuration: .init(address: server.address), eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        connection.start()
        defer { Task { await connection.stop() } }
        #expect(await eventually { connection.isUp })
        for key in Self.known.map(\.key) + ["user:42", "{a}b", "é{ß}", "\u{0}{\u{1}}"] {
            let answer = try await connection.send("CLUSTER", "KEYSLOT", key).get()
            #expect(answer.int == Int64(RedisSlot.of(key)), "\(key)")
        }
    }
}
