import NIOCore
import Synchronization
import SwitchboardCore

/// The configured Pusher apps, looked up by key (WebSocket path) and by id (REST paths), with
/// each app's live connection count for its quota.
struct PusherApps: Sendable {
    let byKey: [String: PusherApp]
    let byID: [String: PusherApp]
    private let connections: [String: ConnectionCount]

    private final class ConnectionCount: Sendable {
        let value = Atomic<Int>(0)
    }

    init(_ apps: [PusherApp]) {
        byKey = Dictionary(apps.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        byID = Dictionary(apps.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        connections = Dictionary(apps.map { ($0.id, ConnectionCount()) }, uniquingKeysWith: { first, _ in first })
    }

    /// Takes one of `app`'s connection places until `channel` closes; false when the app is at
    /// its quota.
    func takePlace(for app: PusherApp, until channel: any Channel) -> Bool {
        guard let count = connections[app.id] else { return false }
        let now = count.value.wrappingAdd(1, ordering: .relaxed).newValue
        if app.maxConnections > 0 && now > app.maxConnections {
            count.value.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { _ in count.value.wrappingSubtract(1, ordering: .relaxed) }
        return true
    }

    /// Live connections of the app `id`.
    func connectionCount(of id: String) -> Int {
        connections[id]?.value.load(ordering: .relaxed) ?? 0
    }
}
