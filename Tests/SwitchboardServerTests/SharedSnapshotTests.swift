import Foundation
import NIOCore
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// Admin streams send one shared snapshot around each reader's own client window: the bytes
/// must be exactly those of the whole snapshot encoded at once.
@Suite struct SharedSnapshotTests {
    @Test func aSharedSnapshotAroundAWindowIsTheWholeSnapshotsBytes() async throws {
        try await TestServer.with { server in
            var clients: [TestClient] = []
            for _ in 0..<3 { clients.append(try await TestClient.connect(server.url)) }
            try await server.eventually("3 connections") { server.hub.connectionCount == 3 }
            let whole = await server.server.collector.snapshot(query: ClientQuery(sort: .id, offset: 1, limit: 2))
            #expect(whole.clients.rows.count == 2 && !whole.events.isEmpty)
            var withoutClients = whole
            withoutClients.clients = ClientWindow()
            let parts = try SharedSnapshot.cut(AdminAPI.encoder.encode(withoutClients))
            let joined = parts.head + Array(try AdminAPI.encoder.encode(whole.clients)) + parts.tail
            #expect(joined == Array(try AdminAPI.encoder.encode(whole)))
            for client in clients { try await client.close() }
        }
    }

    @Test func streamsAskingWithinItsFreshnessShareOneSnapshot() async throws {
        try await TestServer.with { server in
            let shared = SharedSnapshot(collector: server.server.collector, freshness: .seconds(3600))
            var first = ByteBuffer()
            var second = ByteBuffer()
            try await shared.encoded(around: ClientWindow(total: 1), into: &first)
            try await Task.sleep(for: .milliseconds(20))
            try await shared.encoded(around: ClientWindow(total: 2), into: &second)
            let decoder = AdminStreamSession.decoder
            let a = try decoder.decode(DashboardSnapshot.self, from: Data(first.readableBytesView))
            let b = try decoder.decode(DashboardSnapshot.self, from: Data(second.readableBytesView))
            #expect(a.clients.total == 1 && b.clients.total == 2)
            #expect(a.server.uptimeSeconds == b.server.uptimeSeconds, "one snapshot made for both")
        }
    }
}
