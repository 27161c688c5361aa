import Foundation
import NIOCore
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// A subscription whose reply waits (here: for its history) holds back the channel's
/// deliveries; the shard counts the sessions holding each channel so that every other delivery
/// goes straight to the mailboxes. The count must come back to nothing once the reply is out.
@Suite("Deliveries held until the subscription reply")
struct HeldDeliveriesTests {
    private func channelsHeldBack(_ hub: Hub) async throws -> Int {
        var held = 0
        for shard in hub.shards { held += try await shard.eventLoop.submit { shard.channelsHeldBack }.get() }
        return held
    }

    @Test func nothingIsHeldOnceTheReplyIsOutAndDeliveriesFlow() async throws {
        try await TestServer.with {
            $0.hub.history.global = HistoryPolicy(size: 10, ttl: .seconds(60))
        } body: { server in
            let publisher = try await TestClient.connect(server.url)
            _ = try await publisher.next()
            try await publisher.send(#"{"type":"publish","channel":"room","data":"before","id":1}"#)
            _ = try await publisher.next { $0.contains(#""ack""#) }
            let subscriber = try await TestClient.connect(server.url)
            _ = try await subscriber.next()
            try await subscriber.send(#"{"type":"subscribe","channel":"room","id":1}"#)
            _ = try await subscriber.next { $0.contains(#""subscribed""#) }
            try await server.eventually("no channel held back") { (try? await channelsHeldBack(server.hub)) == 0 }
            try await publisher.send(#"{"type":"publish","channel":"room","data":"after","id":2}"#)
            let after = try await subscriber.next { $0.contains(#""message""#) }
            #expect(after.contains("after"))
            try await subscriber.close()
            try await publisher.close()
        }
    }
}
