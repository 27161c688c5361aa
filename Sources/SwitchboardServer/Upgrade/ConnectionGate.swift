import NIOCore
import Synchronization
import SwitchboardCore

/// The limits on new WebSocket connections beyond the server-wide one, asked before the
/// upgrade: per source address (`max-connections-per-ip`, `connect-rate-per-ip`, counted on this
/// node) and per user (`max-connections-per-user`, counted on every node through the engine).
///
/// With every limit off (the default) the gate is never asked and costs nothing. An admitted
/// connection keeps its place until its channel closes. Refusals are counted for `/metrics`,
/// and each refused address is told to the event log once a minute, not once per attempt.
final class ConnectionGate: Sendable {
    /// What a refusal is counted and reported as.
    enum Reason: String, CaseIterable, Sendable {
        case tooManyConnectionsPerIP = "too_many_connections_per_ip"
        case rateLimited = "rate_limited"
        case tooManyConnectionsPerUser = "too_many_connections_per_user"

        /// The API error code the refused client reads.
        var code: String { self == .rateLimited ? "rate_limited" : "too_many_connections" }
    }

    /// A refused connection's answer.
    struct Refusal: Error, Sendable {
        var reason: Reason?
        var status: HTTPResponseStatusCode
        var message: String
    }

    /// How the HTTP answer's status is chosen: 429 for a limit, 503 when it cannot be checked.
    enum HTTPResponseStatusCode: Sendable {
        case tooManyRequests, serviceUnavailable
    }

    private struct Sources {
        var limits: SourceLimits
        /// Addresses refused in the last minute: why, how often, when last told to the log.
        var refused: [String: (reason: Reason, attempts: Int, since: Double, reported: Double)] = [:]
        var pruned = 0.0
    }

    private struct Users {
        var counts: [String: Int] = [:]
        /// Users whose count changed since the engine was last told.
        var changed = Set<String>()
        /// When each refused user was last told to the event log.
        var reported: [String: Double] = [:]
    }

    let maxConnectionsPerUser: Int
    /// Whether the engine is told of changed per-user counts (a cluster's node); alone, the
    /// counts here are the whole truth and nothing is kept for anyone else.
    private let reportsUserCounts: Bool
    private let sources: Mutex<Sources>
    private let users = Mutex(Users())
    /// Refusals so far, by reason (rare: a lock is cheaper than it matters).
    private let refusals = Mutex<[Reason: Int]>([:])
    private let events: EventMailbox?

    init(configuration: HubConfiguration, reportsUserCounts: Bool, events: EventMailbox?) {
        maxConnectionsPerUser = configuration.maxConnectionsPerUser
        self.reportsUserCounts = reportsUserCounts
        limitsSources = configuration.maxConnectionsPerIP > 0 || configuration.connectRatePerIP > 0
        sources = Mutex(Sources(limits: SourceLimits(maxConnections: configuration.maxConnectionsPerIP, connectRate: configuration.connectRatePerIP)))
        self.events = events
    }

    /// Whether a per-address limit is on.
    let limitsSources: Bool

    private static func monotonicSeconds() -> Double {
        Double(NIODeadline.now().uptimeNanoseconds) / 1e9
    }

    // MARK: Per address

    /// Takes a place for a connection from `address` until `channel` closes, or says why not.
    func admit(address: String, until channel: any Channel) -> Refusal? {
        let now = Self.monotonicSeconds()
        let (refusal, report) = sources.withLock { state -> (SourceLimits.Refusal?, Bool) in
            if now - state.pruned > 10 {
                state.limits.prune(now: UInt64(now * 1e9))
                state.refused = state.refused.filter { now - $0.value.since < 60 }
                state.pruned = now
            }
            guard let refusal = state.limits.admit(address, now: UInt64(now * 1e9)) else { return (nil, false) }
            let reason: Reason = refusal == .rateLimited ? .rateLimited : .tooManyConnectionsPerIP
            var entry = state.refused[address] ?? (reason, 0, now, -.infinity)
            entry.reason = reason
            entry.attempts += 1
            let report = now - entry.reported >= 60
            if report { entry.reported = now }
            state.refused[address] = entry
            return (refusal, report)
        }
        guard let refusal else {
            channel.closeFuture.whenComplete { _ in self.sources.withLock { $0.limits.release(address) } }
            return nil
        }
        let limits = sources.withLock { $0.limits }
        let (reason, message): (Reason, String) =
            switch refusal {
            case .tooManyConnections:
                (.tooManyConnectionsPerIP, "too many connections from \(address): at most \(limits.maxConnections) (max-connections-per-ip)")
            case .rateLimited:
                (.rateLimited, "too many new connections from \(address): at most \(Self.rate(limits.connectRate)) per second (connect-rate-per-ip)")
            }
        refused(reason, report: report ? message : nil)
        return Refusal(reason: reason, status: .tooManyRequests, message: message)
    }

    /// `5` for 5.0, `0.5` for 0.5.
    private static func rate(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The addresses refused in the last minute, the most attempts first, at most `limit`.
    func recentlyRefused(limit: Int = 20) -> [(address: String, reason: Reason, attempts: Int)] {
        let now = Self.monotonicSeconds()
        let recent: [(address: String, reason: Reason, attempts: Int)] = sources.withLock { state in
            state.refused.filter { now - $0.value.since < 60 }.map { (address: $0.key, reason: $0.value.reason, attempts: $0.value.attempts) }
        }
        return Array(recent.sorted { ($0.attempts, $1.address) > ($1.attempts, $0.address) }.prefix(limit))
    }

    /// Connections refused so far, by reason.
    func refusedCount(_ reason: Reason) -> Int {
        refusals.withLock { $0[reason] ?? 0 }
    }

    private func refused(_ reason: Reason, report: String?) {
        refusals.withLock { $0[reason, default: 0] += 1 }
        if let report { events?.send(HubEvent(time: WallClock.now(), kind: .refused, detail: report)) }
    }

    // MARK: Per user

    /// Takes a place for a connection of `user` until `channel` closes, counted on every node
    /// through `engine`, or says why not.
    func admit(user: String, until channel: any Channel, engine: any Engine) async -> Refusal? {
        let limit = maxConnectionsPerUser
        let reports = reportsUserCounts
        let local = users.withLock { state in
            state.counts[user, default: 0] += 1
            if reports { state.changed.insert(user) }
            return state.counts[user] ?? 1
        }
        let release = { @Sendable in
            self.users.withLock { state in
                let left = (state.counts[user] ?? 1) - 1
                state.counts[user] = left > 0 ? left : nil
                if reports { state.changed.insert(user) }
            }
        }
        switch await engine.admitUser(user, localCount: local, limit: limit) {
        case .admitted:
            channel.closeFuture.whenComplete { _ in release() }
            return nil
        case .tooMany:
            release()
            let message = "\(user) has \(limit) connection\(limit == 1 ? "" : "s") already (max-connections-per-user)"
            let now = Self.monotonicSeconds()
            let report = users.withLock { state in
                if state.reported.count > 10_000 { state.reported = state.reported.filter { now - $0.value < 60 } }
                guard now - (state.reported[user] ?? -.infinity) >= 60 else { return false }
                state.reported[user] = now
                return true
            }
            refused(.tooManyConnectionsPerUser, report: report ? message : nil)
            return Refusal(reason: .tooManyConnectionsPerUser, status: .tooManyRequests, message: message)
        case .unavailable:
            release()
            return Refusal(
                reason: nil, status: .serviceUnavailable,
                message: ProtocolError.redisUnreachable + ": the connections per user cannot be counted; retry later")
        }
    }

    /// This node's connections of each user whose count changed since the last call (0 for a
    /// user with none left), or of every user with `all`.
    func takeUserCounts(all: Bool) -> [String: Int] {
        users.withLock { state in
            defer { state.changed.removeAll(keepingCapacity: true) }
            if all { return state.counts }
            var changed: [String: Int] = [:]
            for user in state.changed { changed[user] = state.counts[user] ?? 0 }
            return changed
        }
    }
}
