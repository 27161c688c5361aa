import Foundation
import RedisTestSupport
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// The hub behaves the same on either engine: in process, and on the Redis engine against a real
/// redis-server each test starts. What a client sees must not tell which one it talks to.
@Suite("The hub on both engines")
struct EngineTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case local
        case redis

        var testDescription: String { rawValue }
    }

    /// Runs `body` against a server on `kind`'s engine (Redis: a fresh redis-server of its own).
    private func withServer(
        _ kind: Kind, configure: (inout ServerConfiguration) -> Void = { _ in }, body: (TestServer, RedisServerProcess?) async throws -> Void
    ) async throws {
        let redis = kind == .redis ? try RedisServerProcess() : nil
        try await TestServer.with {
            if let redis {
                $0.hub.cluster.redis = redis.address
                $0.hub.cluster.nodeName = "node-t"
            }
            configure(&$0)
        } body: { server in
            if redis != nil {
                try await server.eventually("the Redis link") { server.hub.clusterLink?.isUp == true }
            }
            try await body(server, redis)
        }
    }

    private func client(_ server: TestServer) async throws -> (TestClient, String) {
        let client = try await TestClient.connect(server.url)
        let welcome = try await client.next { $0.contains(#""welcome""#) }
        let object = try JSONSerialization.jsonObject(with: Data(welcome.utf8)) as? [String: Any]
        return (client, object?["client"] as? String ?? "")
    }

    @Test(arguments: Kind.allCases)
    func publishesAreNumberedOnceAndReachEverySubscriberInOrder(_ kind: Kind) async throws {
        try await withServer(kind) { server, _ in
            var subscribers: [TestClient] = []
            for _ in 0..<4 {  // two event loops: subscribers on both shards
                let (subscriber, _) = try await client(server)
                try await subscriber.send(#"{"type":"subscribe","channel":"news","id":1}"#)
                _ = try await subscriber.next { $0.contains(#""subscribed""#) }
                subscribers.append(subscriber)
            }
            let (publisher, _) = try await client(server)
            for n in 1...3 {
                try await publisher.send(#"{"type":"publish","channel":"news","data":\#(n),"id":\#(n)}"#)
                _ = try await publisher.next { $0.contains(#""ack""#) }
            }
            let (status, body) = try await server.http("POST", "/api/publish", body: #"{"channel":"news","data":4}"#)
            #expect(status == 200 && body.contains(#""seq":4"#), "\(status) \(body)")
            for subscriber in subscribers {
                for n in 1...4 {
                    let message = try await subscriber.next { $0.contains(#""message""#) }
                    #expect(message.contains(#""seq":\#(n)"#) && message.contains(#""data":\#(n)"#), "\(message)")
                }
            }
        }
    }

    @Test(arguments: Kind.allCases)
    func presenceJoinsAndLeavesOnceAndCountsFollow(_ kind: Kind) async throws {
        try await withServer(kind) { server, _ in
            let (watcher, watcherID) = try await client(server)
            try await watcher.send(#"{"type":"subscribe","channel":"room","presence":true,"id":1}"#)
            _ = try await watcher.next { $0.contains(#""subscribed""#) }
            let (visitor, visitorID) = try await client(server)
            try await visitor.send(#"{"type":"subscribe","channel":"room","presence":true,"id":1}"#)
            _ = try await visitor.next { $0.contains(#""subscribed""#) }
            let join = try await watcher.next { $0.contains(#""join""#) }
            #expect(join.contains(visitorID))
            try await watcher.send(#"{"type":"presence","channel":"room","id":2}"#)
            let members = try await watcher.next { $0.contains(#""presence""#) }
            #expect(members.contains(watcherID) && members.contains(visitorID), "\(members)")
            try await server.eventually("two subscriptions counted") {
                (try? await server.hub.channelCounts(prefix: "room"))?["room"].map { $0 == (2, 2) } ?? false
            }
            try await visitor.send(#"{"type":"unsubscribe","channel":"room","id":2}"#)
            let leave = try await watcher.next { $0.contains(#""leave""#) }
            #expect(leave.contains(visitorID))
            try await server.eventually("one subscription counted") {
                (try? await server.hub.channelCounts(prefix: "room"))?["room"].map { $0 == (1, 1) } ?? false
            }
            // Nothing more of the visitor: the next thing the watcher hears is this message.
            try await visitor.send(#"{"type":"publish","channel":"room","data":"marker","id":3}"#)
            let next = try await watcher.next { !$0.contains(#""pong""#) }
            #expect(next.contains("marker"), "\(next)")
        }
    }

    @Test(arguments: Kind.allCases)
    func aResumingSubscriberGetsWhatItMissedFromHistory(_ kind: Kind) async throws {
        try await withServer(kind) {
            $0.hub.history.global = HistoryPolicy(size: 10, ttl: .seconds(60))
        } body: { server, _ in
            let (publisher, _) = try await client(server)
            for n in 1...3 {
                try await publisher.send(#"{"type":"publish","channel":"log","data":\#(n),"id":\#(n)}"#)
                _ = try await publisher.next { $0.contains(#""ack""#) }
            }
            let (first, _) = try await client(server)
            try await first.send(#"{"type":"subscribe","channel":"log","id":1}"#)
            let subscribed = try await first.next { $0.contains(#""subscribed""#) }
            let object = try JSONSerialization.jsonObject(with: Data(subscribed.utf8)) as? [String: Any]
            let epoch = try #require(object?["epoch"] as? String)
            #expect(object?["seq"] as? Int == 3)
            let (resuming, _) = try await client(server)
            try await resuming.send(#"{"type":"subscribe","channel":"log","since":{"seq":1,"epoch":"\#(epoch)"},"id":1}"#)
            let reply = try await resuming.next { $0.contains(#""subscribed""#) }
            #expect(reply.contains(#""recovered":true"#), "\(reply)")
            for n in 2...3 {
                let message = try await resuming.next { $0.contains(#""message""#) }
                #expect(message.contains(#""seq":\#(n)"#), "\(message)")
            }
        }
    }

    /// A presence member leaves while Redis is paused (its leave cannot be answered): once Redis
    /// is back, the other member hears the leave exactly once and the counts are right.
    @Test func aLeaveDuringARedisPauseIsAnnouncedOnce() async throws {
        try await withServer(.redis) { server, redis in
            let redis = try #require(redis)
            let (watcher, _) = try await client(server)
            try await watcher.send(#"{"type":"subscribe","channel":"room","presence":true,"id":1}"#)
            _ = try await watcher.next { $0.contains(#""subscribed""#) }
            let (visitor, visitorID) = try await client(server)
            try await visitor.send(#"{"type":"subscribe","channel":"room","presence":true,"id":1}"#)
            _ = try await visitor.next { $0.contains(#""subscribed""#) }
            _ = try await watcher.next { $0.contains(#""join""#) }
            redis.pause(true)
            try await visitor.close()
            try await Task.sleep(for: .seconds(6))  // the blip being tested, not a deadline
            redis.pause(false)
            let leave = try await watcher.next { $0.contains(#""leave""#) }
            #expect(leave.contains(visitorID))
            try await server.eventually("the Redis link back") { server.hub.clusterLink?.isUp == true }
            try await server.eventually("the visitor gone from the counts") {
                (try? await server.hub.channelCounts(prefix: "room"))?["room"].map { $0 == (1, 1) } ?? false
            }
            // Exactly once: after a message published now, nothing else arrived in between.
            let (publisher, _) = try await client(server)
            try await server.eventually("a publish accepted") {
                try? await publisher.send(#"{"type":"publish","channel":"room","data":"marker","id":9}"#)
                return (try? await publisher.next { $0.contains(#""id":9"#) })?.contains(#""ack""#) ?? false
            }
            let next = try await watcher.next { !$0.contains(#""pong""#) }
            #expect(next.contains("marker"), "\(next)")
        }
    }
}
