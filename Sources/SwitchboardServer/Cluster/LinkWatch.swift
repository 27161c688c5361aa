import Foundation

/// Turns the ups and downs of the node's two Redis connections (requests, and the subscriber
/// that brings messages) into the lines an operator reads: one when a connection that was up
/// is lost, one when it is back, with how long it was away. A node that has not reached Redis
/// yet says nothing (the log already says where it is trying).
struct LinkWatch {
    /// Which of the node's Redis connections.
    enum Connection: String {
        case requests = "request connection"
        case subscriber = "subscriber connection"
    }

    private var downSince: [Connection: ContinuousClock.Instant] = [:]
    private var seenUp: Set<Connection> = []

    /// The line for `connection` going up or down at `now` (`why` it was lost), nil when nothing
    /// changed for the operator.
    mutating func changed(_ connection: Connection, up: Bool, why: String? = nil, now: ContinuousClock.Instant) -> String? {
        if up {
            seenUp.insert(connection)
            guard let since = downSince.removeValue(forKey: connection) else { return nil }
            let away = now - since
            let seconds = Double(away.components.seconds) + Double(away.components.attoseconds) / 1e18
            return "Redis link up again: the \(connection.rawValue) is back after \(String(format: "%.1f", seconds)) s"
        }
        guard seenUp.contains(connection), downSince[connection] == nil else { return nil }
        downSince[connection] = now
        return "Redis link down: the \(connection.rawValue) was lost (\(why ?? "closed")); publishes and subscriptions are refused until it is back"
    }
}
