import Foundation
import NIOCore
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// One pass over the clients serves every query that wants the same order while it is fresh,
/// and which clients match is exact all the same: over real sockets, on a real hub.
@Suite("Client orders shared between queries")
struct ClientOrderCacheTests {
    /// Fresh for an hour: only a change of membership can start a new pass within the test.
    static func longLived(_ configuration: inout ServerConfiguration) {
        configuration.hub.clientOrderFreshness = .seconds(3600)
    }

    @Test func windowsOfOneOrderShareOnePass() async throws {
        try await TestServer.with(Self.longLived) { server in
            var clients: [TestClient] = []
            for _ in 0..<5 { clients.append(try await TestClient.connect(server.url)) }
            try await server.eventually("5 connections") { server.hub.connectionCount == 5 }
            let before = server.hub.clientOrders.passesMade
            let first = await server.hub.clientWindow(ClientQuery(sort: .id, limit: 2))
            let second = await server.hub.clientWindow(ClientQuery(sort: .id, offset: 2, limit: 2))
            let third = await server.hub.clientWindow(ClientQuery(sort: .id, offset: 4, limit: 2))
            #expect(server.hub.clientOrders.passesMade == before + 1)
            #expect(first.total == 5 && second.total == 5 && third.total == 5)
            let ids = (first.rows + second.rows + third.rows).map(\.id)
            #expect(ids.count == 5 && Set(ids).count == 5, "\(ids)")
            // Another order is another pass.
            _ = await server.hub.clientWindow(ClientQuery(sort: .age, limit: 2))
            #expect(server.hub.clientOrders.passesMade == before + 2)
            for client in clients { try await client.close() }
        }
    }

    /// With no freshness at all, an order by ids is still sorted once for as long as nobody
    /// arrives or leaves; an order by rate (a figure that moves by itself) is made per query.
    @Test func anOrderThatDoesNotMoveByItselfLastsUntilMembershipChanges() async throws {
        try await TestServer.with({ $0.hub.clientOrderFreshness = .zero }) { server in
            var clients: [TestClient] = []
            for _ in 0..<3 { clients.append(try await TestClient.connect(server.url)) }
            try await server.eventually("3 connections") { server.hub.connectionCount == 3 }
            let before = server.hub.clientOrders.passesMade
            let first = await server.hub.clientWindow(ClientQuery(sort: .id, limit: 2))
            let rest = await server.hub.clientWindow(ClientQuery(sort: .id, offset: 2, limit: 2))
            #expect(server.hub.clientOrders.passesMade == before + 1)
            #expect((first.rows + rest.rows).map(\.id).count == 3)
            _ = await server.hub.clientWindow(ClientQuery(sort: .rate, limit: 2))
            _ = await server.hub.clientWindow(ClientQuery(sort: .rate, limit: 2))
            #expect(server.hub.clientOrders.passesMade == before + 3)
            clients.append(try await TestClient.connect(server.url))
            try await server.eventually("4 connections") { server.hub.connectionCount == 4 }
            #expect(await server.hub.clientWindow(ClientQuery(sort: .id, limit: 10)).rows.count == 4)
            #expect(server.hub.clientOrders.passesMade == before + 4)
            for client in clients { try await client.close() }
        }
    }

    /// Full, the cache makes room for a new order by dropping the one made longest ago, so a
    /// console's current view is kept however many filters were typed before it.
    @Test func aNewOrderPastCapacityReplacesTheOldest() async {
        let cache = ClientOrderCache(freshness: .seconds(3600), capacity: 2)
        let keys = [ClientOrderKey(rank: 2, number: 2, owner: 0), ClientOrderKey(rank: 1, number: 1, owner: 0)]
        let queries = ["a", "b", "c"].map { ClientQuery(filter: $0) }
        for query in queries { _ = await cache.order(for: query) { keys } }
        #expect(cache.passesMade == 3)
        #expect(await cache.order(for: queries[2]) { keys }.keys.map(\.number) == [1, 2])
        _ = await cache.order(for: queries[1]) { keys }
        #expect(cache.passesMade == 3)
        _ = await cache.order(for: queries[0]) { keys }
        #expect(cache.passesMade == 4)
    }

    @Test func aClientArrivingOrLeavingIsSeenAtOnce() async throws {
        try await TestServer.with(Self.longLived) { server in
            let first = try await TestClient.connect(server.url)
            try await server.eventually("1 connection") { server.hub.connectionCount == 1 }
            #expect(await server.hub.clientWindow(ClientQuery()).total == 1)
            let second = try await TestClient.connect(server.url)
            try await server.eventually("2 connections") { server.hub.connectionCount == 2 }
            #expect(await server.hub.clientWindow(ClientQuery()).total == 2)
            try await first.close()
            try await server.eventually("1 connection") { server.hub.connectionCount == 1 }
            let window = await server.hub.clientWindow(ClientQuery())
            #expect(window.total == 1 && window.rows.count == 1)
            try await second.close()
        }
    }

    @Test func subscribingAndLeavingAChannelAreSeenAtOnce() async throws {
        try await TestServer.with(Self.longLived) { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            let inRoom = ClientQuery(channel: "room")
            #expect(await server.hub.clientWindow(inRoom).total == 0)
            try await client.send(#"{"type":"subscribe","channel":"room","id":1}"#)
            _ = try await client.next { $0.contains(#""subscribed""#) }
            #expect(await server.hub.clientWindow(inRoom).total == 1)
            #expect(await server.hub.clientWindow(ClientQuery(filter: "roo")).total == 1)
            try await client.send(#"{"type":"unsubscribe","channel":"room","id":2}"#)
            _ = try await client.next { $0.contains(#""unsubscribed""#) }
            #expect(await server.hub.clientWindow(inRoom).total == 0)
            #expect(await server.hub.clientWindow(ClientQuery(filter: "roo")).total == 0)
            try await client.close()
        }
    }

    @Test func streamsTickOnTheBeatOfTheirInterval() {
        let second = Duration.seconds(1)
        #expect(AdminStreamSession.delay(toNextBeatOf: second, now: 5_250_000_000) == .milliseconds(750))
        #expect(AdminStreamSession.delay(toNextBeatOf: second, now: 5_000_000_000) == .seconds(1))
        // Never less than half an interval after a snapshot: a beat that close is skipped.
        #expect(AdminStreamSession.delay(toNextBeatOf: second, now: 5_800_000_000) == .milliseconds(1200))
    }
}
