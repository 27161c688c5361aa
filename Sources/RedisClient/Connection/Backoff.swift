/// The delay before each reconnection attempt: doubling from `initial`, capped at `maximum`,
/// back to `initial` after a connection that worked.
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    private var failures = 0

    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt, after one more failure.
    public mutating func next() -> Duration {
        defer { failures = min(failures + 1, 30) }
        let delay = initial * (1 << min(failures, 20))
        return min(delay, maximum)
    }

    /// A connection succeeded: the next failure waits `initial` again.
    public mutating func reset() {
        failures = 0
    }
}
