import Foundation
import NIOCore
import SwitchboardCore
import Synchronization
import Testing

@testable import SwitchboardServer

/// One pass over the clients serves every query that wants the same order while it is current,
/// and which clients match is exact all the same: over real sockets, on a real hub, and the
/// cache's rules on their own.
@Suite("Client orders shared between queries")
struct ClientOrderCacheTests {
    @Test func windowsOfOneOrderShareOnePass() async throws {
        try await TestServer.with { server in
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

    private static let keys = [ClientOrderKey(rank: 2, number: 2, owner: 0), ClientOrderKey(rank: 1, number: 1, owner: 0)]

    /// An order that does not move by itself is sorted once for as long as nobody arrives or
    /// leaves, however often the figures are sampled; an order by a moving figure is carried
    /// forward once per sample by the clients that moved, and taken anew when that cannot be told.
    @Test func ordersFollowMembershipAndTheFiguresSamples() async {
        let cache = ClientOrderCache()
        let askedSince = Mutex<[[UInt64]]>([])
        let movedAnswer = Mutex<[ClientOrderCache.ShardKeys]?>(nil)
        func order(_ sort: ClientQuery.SortKey) async -> [UInt64] {
            await cache.order(for: ClientQuery(sort: sort)) {
                [(sample: UInt64(7), keys: Self.keys)]
            } moved: { since in
                askedSince.withLock { $0.append(since) }
                return movedAnswer.withLock { $0 }
            }.keys.map(\.number)
        }
        #expect(await order(.id) == [1, 2] && cache.passesMade == 1)
        #expect(await order(.rate) == [1, 2] && cache.passesMade == 2)
        #expect(await order(.rate) == [1, 2] && cache.passesMade == 2)
        cache.figuresSampled()
        #expect(await order(.id) == [1, 2] && cache.passesMade == 2)
        // Client 1 moved past client 2 at sample 8.
        movedAnswer.withLock { $0 = [(sample: 8, keys: [ClientOrderKey(rank: 3, number: 1, owner: 0)])] }
        #expect(await order(.rate) == [2, 1])
        #expect(cache.passesMade == 2 && cache.ordersCarriedForward == 1 && askedSince.withLock { $0 } == [[7]])
        #expect(await order(.rate) == [2, 1] && cache.ordersCarriedForward == 1)
        cache.figuresSampled()
        movedAnswer.withLock { $0 = [(sample: 9, keys: [])] }
        #expect(await order(.rate) == [2, 1] && cache.ordersCarriedForward == 2 && askedSince.withLock { $0 }.last == [8])
        // The shards sampled more often than the order was asked for: a new pass.
        cache.figuresSampled()
        movedAnswer.withLock { $0 = nil }
        #expect(await order(.rate) == [1, 2] && cache.passesMade == 3)
        cache.membershipChanged()
        #expect(await order(.id) == [1, 2] && cache.passesMade == 4)
    }

    /// Full, the cache makes room for a new order by dropping the one used longest ago, so a
    /// console's current view is kept however many filters were typed before it.
    @Test func aNewOrderPastCapacityReplacesTheOldest() async {
        let cache = ClientOrderCache(capacity: 2)
        let queries = ["a", "b", "c"].map { ClientQuery(filter: $0) }
        func order(_ query: ClientQuery) async -> [UInt64] {
            await cache.order(for: query) {
                [(sample: UInt64(0), keys: Self.keys)]
            } moved: { _ in
                nil
            }.keys.map(\.number)
        }
        for query in queries { _ = await order(query) }
        #expect(cache.passesMade == 3)
        #expect(await order(queries[2]) == [1, 2])
        _ = await order(queries[1])
        #expect(cache.passesMade == 3)
        _ = await order(queries[0])
        #expect(cache.passesMade == 4)
    }

    /// A client that sends moves up the order by messages once its figures are sampled, without
    /// a new pass over every client, and the carried-forward order is the true one.
    @Test func aBusyClientMovesUpAnOrderByMessagesAfterASample() async throws {
        try await TestServer.with { server in
            var clients: [TestClient] = []
            for _ in 0..<4 { clients.append(try await TestClient.connect(server.url)) }
            try await server.eventually("4 connections") { server.hub.connectionCount == 4 }
            for client in clients { _ = try await client.next() }
            let busiest = ClientQuery(sort: .messagesIn, descending: true, limit: 4)
            _ = await server.hub.clientWindow(busiest)
            let busy = clients[2]
            for n in 0..<5 { try await busy.send(#"{"type":"ping","id":\#(n)}"#) }
            for _ in 0..<5 { _ = try await busy.next() }
            try await server.eventually("the busy client on top, carried forward") {
                let carried = server.hub.clientOrders.ordersCarriedForward
                let rows = await server.hub.clientWindow(busiest).rows
                return server.hub.clientOrders.ordersCarriedForward > carried && rows.first?.messagesIn == 5
                    && rows.map(\.messagesIn) == rows.map(\.messagesIn).sorted(by: >)
            }
            for client in clients { try await client.close() }
        }
    }

    @Test func aClientArrivingOrLeavingIsSeenAtOnce() async throws {
        try await TestServer.with { server in
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
        try await TestServer.with { server in
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
