/// The circuit breaker in front of one of the application's proxy URLs, as a pure state
/// machine: the proxy client asks it before each request and tells it how each request went.
///
/// Closed, it lets every request through and counts consecutive failures; at
/// `failureThreshold` it opens. Open, it refuses at once until `cooldown` has passed; then it
/// lets one request through as a probe (half open) and refuses the others while the probe is
/// out. The probe's success closes it; its failure opens it for another cooldown.
///
/// Times are monotonic nanoseconds (`NIODeadline.now().uptimeNanoseconds` or any clock the
/// caller likes), so the machine is tested without waiting.
public struct CircuitBreaker: Sendable, Equatable {
    /// Where the breaker stands.
    public enum State: Sendable, Equatable {
        /// Requests pass; `failures` in a row have failed so far.
        case closed(failures: Int)
        /// Requests are refused until `until`.
        case open(until: UInt64)
        /// One probe is out; others are refused until it comes back.
        case probing
    }

    /// What to do with a request about to be sent.
    public enum Admission: Sendable, Equatable {
        /// Send it.
        case pass
        /// Send it as the probe after a cooldown: its outcome decides whether the breaker closes.
        case probe
        /// Do not send it: the backend is considered down.
        case refuse
    }

    /// How a change of state should be reported (logged, shown); nil when nothing changed.
    public enum Transition: Sendable, Equatable {
        case opened
        case closed
    }

    public private(set) var state = State.closed(failures: 0)
    /// Consecutive failures that open the breaker.
    public let failureThreshold: Int
    /// How long an open breaker refuses before it lets a probe through, in nanoseconds.
    public let cooldown: UInt64

    public init(failureThreshold: Int, cooldown: Duration) {
        self.failureThreshold = max(1, failureThreshold)
        let (seconds, attoseconds) = cooldown.components
        self.cooldown = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Whether a request arriving at `now` would be refused, without taking the probe: lets a
    /// caller refuse before it queues.
    public func refuses(now: UInt64) -> Bool {
        switch state {
        case .closed: false
        case .open(let until): now < until
        case .probing: true
        }
    }

    /// Decides whether a request may be sent at `now`; an open breaker whose cooldown is over
    /// lets this one through as the probe.
    public mutating func admit(now: UInt64) -> Admission {
        switch state {
        case .closed:
            return .pass
        case .open(let until) where now >= until:
            state = .probing
            return .probe
        case .open, .probing:
            return .refuse
        }
    }

    /// Records that a request admitted as `admission` succeeded (the backend answered, whatever
    /// it answered).
    public mutating func succeeded(_ admission: Admission) -> Transition? {
        switch (state, admission) {
        case (.closed, _):
            state = .closed(failures: 0)
            return nil
        case (.probing, .probe):
            state = .closed(failures: 0)
            return .closed
        case (.open, _), (.probing, _):
            // A request sent before the breaker opened: one late success proves little.
            return nil
        }
    }

    /// Records that a request admitted as `admission` failed at `now` (no answer in time, no
    /// connection, a 5xx, an answer that is not one).
    public mutating func failed(_ admission: Admission, now: UInt64) -> Transition? {
        switch (state, admission) {
        case (.closed(let failures), _):
            guard failures + 1 >= failureThreshold else {
                state = .closed(failures: failures + 1)
                return nil
            }
            state = .open(until: now + cooldown)
            return .opened
        case (.probing, .probe):
            state = .open(until: now + cooldown)
            return .opened
        case (.open, _), (.probing, _):
            return nil
        }
    }
}
