import Foundation
import NIOCore
import NIOWebSocket
import SwitchboardCore
import SwitchboardServer
import Testing
import WSClient

/// The native protocol over real sockets with swift-websocket's client.
@Suite("Native protocol")
struct ProtocolTests {
    static func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func welcomeIsTheFirstFrame() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            let welcome = try Self.json(try #require(await client.next()))
            #expect(welcome["type"] as? String == "welcome")
            #expect((welcome["client"] as? String)?.isEmpty == false)
            #expect(welcome["server"] as? String == "switchboard/\(SwitchboardVersion.current)")
            #expect(welcome["heartbeat_s"] as? Int == 15)
            try await client.close()
        }
    }

    @Test func pingAnswersPongWithTheRequestID() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.send(#"{"type":"ping"}"#)
            #expect(try await client.next() == #"{"type":"pong"}"#)
            try await client.send(#"{"type":"ping","id":"abc"}"#)
            #expect(try await client.next() == #"{"type":"pong","id":"abc"}"#)
            try await client.send(#"{"id":42,"type":"ping"}"#)
            #expect(try await client.next() == #"{"type":"pong","id":42}"#)
            try await client.close()
        }
    }

    @Test func fanOutReachesEverySubscriberInOrderWithNothingLost() async throws {
        try await TestServer.with { server in
            let subscriberCount = 40
            let messageCount = 300
            var subscribers: [TestClient] = []
            for _ in 0..<subscriberCount {
                let client = try await TestClient.connect(server.url)
                _ = try await client.next()
                try await client.send(#"{"type":"subscribe","channel":"news","id":1}"#)
                #expect(try await client.next() == #"{"type":"subscribed","channel":"news","id":1}"#)
                subscribers.append(client)
            }
            let publisher = try await TestClient.connect(server.url)
            let welcome = try Self.json(try #require(await publisher.next()))
            let publisherID = try #require(welcome["client"] as? String)
            for n in 1...messageCount {
                try await publisher.send(#"{"type":"publish","channel":"news","data":{"n": \#(n), "s":"é\u00e9"},"id":\#(n)}"#)
            }
            for n in 1...messageCount {
                #expect(try await publisher.next() == #"{"type":"ack","id":\#(n)}"#)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for subscriber in subscribers {
                    group.addTask {
                        for n in 1...messageCount {
                            let message = try #require(try await subscriber.next())
                            // data is forwarded byte for byte, whitespace and escapes included
                            #expect(
                                message
                                    == #"{"type":"message","channel":"news","data":{"n": \#(n), "s":"é\u00e9"},"from":"\#(publisherID)","seq":\#(n)}"#
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
            let stats = await server.hub.statistics()
            #expect(stats.published == messageCount)
            #expect(stats.deliveries == messageCount * subscriberCount)
            for client in subscribers + [publisher] { try await client.close() }
        }
    }

    /// Small frames of a tick reach a client in one write: consecutive frames of a channel as a
    /// slice of the channel's shared tick batch, frames interleaved with other channels copied
    /// into one buffer of the client's own, larger ones written as they are. A burst mixing all
    /// of these over two channels must arrive byte for byte, in publish order, at every client.
    /// (One event loop: across loops only each channel's own order is guaranteed.)
    @Test func aBurstOfSmallAndLargeMessagesOnTwoChannelsArrivesIntactAndInOrder() async throws {
        try await TestServer.with {
            $0.threads = 1
        } body: { server in
            var subscribers: [TestClient] = []
            for _ in 0..<3 {
                let subscriber = try await TestClient.connect(server.url)
                _ = try await subscriber.next()
                for channel in ["mixed", "other"] {
                    try await subscriber.send(#"{"type":"subscribe","channel":"\#(channel)","id":1}"#)
                    #expect(try await subscriber.next() == #"{"type":"subscribed","channel":"\#(channel)","id":1}"#)
                }
                subscribers.append(subscriber)
            }
            let publisher = try await TestClient.connect(server.url)
            _ = try await publisher.next()
            // 10 B, 600 B (over the coalescing limit), 20 KB (over a tick's coalesced bytes)
            let paddings = [10, 600, 10, 10, 20_000, 10, 10]
            let messageCount = 400
            // runs of a few messages on one channel, then the other
            func channel(_ n: Int) -> String { n % 7 < 4 ? "mixed" : "other" }
            func data(_ n: Int) -> String { #"{"n":\#(n),"pad":"\#(String(repeating: "x", count: paddings[n % paddings.count]))"}"# }
            var sequences: [String: Int] = [:]
            var expected: [(prefix: String, suffix: String)] = []
            for n in 1...messageCount {
                try await publisher.send(#"{"type":"publish","channel":"\#(channel(n))","data":\#(data(n))}"#)
                sequences[channel(n), default: 0] += 1
                expected.append((#"{"type":"message","channel":"\#(channel(n))","data":\#(data(n)),"#, #","seq":\#(sequences[channel(n)]!)}"#))
            }
            for subscriber in subscribers {
                for (n, message) in expected.enumerated() {
                    let received = try #require(try await subscriber.next())
                    #expect(received.hasPrefix(message.prefix), "message \(n + 1)")
                    #expect(received.hasSuffix(message.suffix), "message \(n + 1)")
                }
            }
            for client in subscribers + [publisher] { try await client.close() }
        }
    }

    @Test func senderReceivesItsOwnMessageOnlyWhenSubscribed() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.send(#"{"type":"publish","channel":"solo","data":1}"#)
            try await client.send(#"{"type":"ping","id":"after-unsubscribed-publish"}"#)
            #expect(try await client.next() == #"{"type":"pong","id":"after-unsubscribed-publish"}"#)
            try await client.send(#"{"type":"subscribe","channel":"solo"}"#)
            #expect(try await client.next() == #"{"type":"subscribed","channel":"solo"}"#)
            try await client.send(#"{"type":"publish","channel":"solo","data":[true,null]}"#)
            let message = try Self.json(try #require(await client.next()))
            #expect(message["type"] as? String == "message")
            #expect(message["seq"] as? Int == 2)
            try await client.close()
        }
    }

    @Test func unsubscribeStopsDelivery() async throws {
        try await TestServer.with { server in
            let subscriber = try await TestClient.connect(server.url)
            let publisher = try await TestClient.connect(server.url)
            _ = try await subscriber.next()
            _ = try await publisher.next()
            try await subscriber.send(#"{"type":"subscribe","channel":"a.b"}"#)
            _ = try await subscriber.next()
            try await publisher.send(#"{"type":"publish","channel":"a.b","data":"first","id":1}"#)
            _ = try await publisher.next()
            #expect(try await subscriber.next()?.contains(#""data":"first""#) == true)
            try await subscriber.send(#"{"type":"unsubscribe","channel":"a.b","id":"u"}"#)
            #expect(try await subscriber.next() == #"{"type":"unsubscribed","channel":"a.b","id":"u"}"#)
            try await publisher.send(#"{"type":"publish","channel":"a.b","data":"second","id":2}"#)
            #expect(try await publisher.next() == #"{"type":"ack","id":2}"#)
            // The ack means the fan-out happened; the next frame the subscriber sees is its pong.
            try await subscriber.send(#"{"type":"ping","id":"p"}"#)
            #expect(try await subscriber.next() == #"{"type":"pong","id":"p"}"#)
            try await subscriber.close()
            try await publisher.close()
        }
    }

    @Test func badRequestsGetErrorsAndTheConnectionStaysOpen() async throws {
        try await TestServer.with {
            $0.hub.maxChannelsPerClient = 2
        } body: { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            let cases: [(String, String)] = [
                ("not json", "bad_json"),
                (#"{"type":"publish","channel":"x","data":}"#, "bad_json"),
                ("[1,2]", "bad_request"),
                (#"{"channel":"x"}"#, "bad_request"),
                (#"{"type":7}"#, "bad_request"),
                (#"{"type":"dance","id":"d1"}"#, "unknown_type"),
                (#"{"type":"subscribe"}"#, "missing_channel"),
                (#"{"type":"subscribe","channel":"has space"}"#, "invalid_channel"),
                (#"{"type":"subscribe","channel":""}"#, "invalid_channel"),
                (#"{"type":"subscribe","channel":"\#(String(repeating: "x", count: 129))"}"#, "invalid_channel"),
                (#"{"type":"publish","channel":"x"}"#, "missing_data"),
                (#"{"type":"ping","id":{"a":1}}"#, "invalid_id"),
                (#"{"type":"unsubscribe","channel":"never"}"#, "not_subscribed"),
            ]
            for (request, code) in cases {
                try await client.send(request)
                let reply = try Self.json(try #require(await client.next()))
                #expect(reply["type"] as? String == "error", "\(request)")
                #expect(reply["code"] as? String == code, "\(request)")
                #expect((reply["message"] as? String)?.isEmpty == false)
            }
            try await client.send(#"{"type":"dance","id":"d1"}"#)
            #expect(try Self.json(try #require(await client.next()))["id"] as? String == "d1")

            for channel in ["one", "two"] {
                try await client.send(#"{"type":"subscribe","channel":"\#(channel)"}"#)
                _ = try await client.next()
            }
            try await client.send(#"{"type":"subscribe","channel":"three","id":3}"#)
            let limited = try Self.json(try #require(await client.next()))
            #expect(limited["code"] as? String == "too_many_channels")
            #expect(limited["id"] as? Int == 3)

            try await client.send(#"{"type":"ping","id":"still-open"}"#)
            #expect(try await client.next() == #"{"type":"pong","id":"still-open"}"#)
            try await client.close()
        }
    }

    @Test func publishRateIsLimitedPerClient() async throws {
        try await TestServer.with {
            $0.hub.publishRate = 0.001
            $0.hub.publishBurst = 2
        } body: { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            for n in 1...3 {
                try await client.send(#"{"type":"publish","channel":"r","data":0,"id":\#(n)}"#)
            }
            #expect(try await client.next() == #"{"type":"ack","id":1}"#)
            #expect(try await client.next() == #"{"type":"ack","id":2}"#)
            let third = try Self.json(try #require(await client.next()))
            #expect(third["code"] as? String == "rate_limited")
            #expect(third["id"] as? Int == 3)
            try await client.close()
        }
    }
}
