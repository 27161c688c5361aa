/// Limits per source address on new WebSocket connections: how many may be open at once
/// (`max-connections-per-ip`) and how fast new ones may come (`connect-rate-per-ip`, a token
/// bucket). A value type: the server keeps one behind a lock and asks it at each handshake.
///
/// Only addresses with open connections or a bucket still refilling are kept, so the book
/// stays as small as the set of recent sources (``prune(now:)`` drops the rest).
public struct SourceLimits: Sendable {
    /// Most connections open at once from one address; 0 is no limit.
    public let maxConnections: Int
    /// New connections per second from one address (the bucket's refill); 0 is no limit.
    public let connectRate: Double
    /// The bucket's size: a second's worth of connects, at least one.
    public var burst: Double { max(1, connectRate) }

    /// Why a connection was refused, as its API error code says it.
    public enum Refusal: String, Sendable, CaseIterable {
        /// The address holds `maxConnections` already.
        case tooManyConnections = "too_many_connections"
        /// The address used up its bucket of connects.
        case rateLimited = "rate_limited"
    }

    private struct Source {
        var open = 0
        var connects: TokenBucket
    }

    private var sources: [String: Source] = [:]

    public init(maxConnections: Int, connectRate: Double) {
        self.maxConnections = max(0, maxConnections)
        self.connectRate = max(0, connectRate)
    }

    /// Whether either limit is on.
    public var isActive: Bool { maxConnections > 0 || connectRate > 0 }

    /// Takes a place for a new connection from `address` at `now` (nanoseconds of a monotonic
    /// clock), or says why not. An admitted connection must be ``release(_:)``d when it closes.
    public mutating func admit(_ address: String, now: UInt64) -> Refusal? {
        var source = sources[address] ?? Source(connects: TokenBucket(rate: connectRate, burst: burst, now: now))
        if maxConnections > 0 && source.open >= maxConnections { return .tooManyConnections }
        guard source.connects.take(now: now) else {
            sources[address] = source
            return .rateLimited
        }
        source.open += 1
        sources[address] = source
        return nil
    }

    /// A connection ``admit(_:now:)`` let in has closed.
    public mutating func release(_ address: String) {
        guard var source = sources[address] else { return }
        source.open = max(0, source.open - 1)
        sources[address] = source
    }

    /// Open connections from `address`, as counted here.
    public func openConnections(from address: String) -> Int {
        sources[address]?.open ?? 0
    }

    /// Forgets addresses with nothing open whose bucket is full again by `now`.
    public mutating func prune(now: UInt64) {
        sources = sources.filter { _, source in source.open > 0 || !source.connects.isFull(now: now) }
    }

    /// How many addresses are kept.
    public var trackedSources: Int { sources.count }
}

/// Failed admin-token attempts per address: after `allowedFailures` within a window of
/// `window` seconds (counted from the first failure), the address is refused (HTTP 429 with
/// `Retry-After`) until that window is over, whatever token it brings. Other addresses are not
/// affected, so an operator with the right token is never locked out by an attacker elsewhere.
public struct AdminLockout: Sendable {
    public let allowedFailures: Int
    public let window: Double

    private struct Attempts {
        var since: Double
        var failures: Int
    }

    private var attempts: [String: Attempts] = [:]

    public init(allowedFailures: Int = 5, window: Double = 60) {
        self.allowedFailures = allowedFailures
        self.window = window
    }

    /// Seconds until `address` may try again (rounded up), or nil when it may try now.
    public func retryAfter(_ address: String, now: Double) -> Int? {
        guard let entry = attempts[address], entry.failures >= allowedFailures else { return nil }
        let left = entry.since + window - now
        return left > 0 ? Int(left.rounded(.up)) : nil
    }

    /// Records a wrong or missing token from `address`.
    public mutating func failed(_ address: String, now: Double) {
        if let entry = attempts[address], now - entry.since < window {
            attempts[address]?.failures = entry.failures + 1
        } else {
            attempts[address] = Attempts(since: now, failures: 1)
        }
    }

    /// Forgets windows that are over.
    public mutating func prune(now: Double) {
        attempts = attempts.filter { now - $0.value.since < window }
    }

    /// How many addresses are kept.
    public var trackedSources: Int { attempts.count }
}
