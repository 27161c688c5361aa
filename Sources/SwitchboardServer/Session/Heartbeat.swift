/// When a session last heard from its client and whether a ping is waiting for an answer:
/// decides, at each tick of the shard's heartbeat, whether to ping the client or give up on it.
///
/// A client silent for an interval is pinged; one still silent an interval after its ping is
/// closed. A client is always pinged before it is closed, even when the loop was too busy to run
/// the heartbeat on time. Times are monotonic nanoseconds.
struct Heartbeat {
    /// What the heartbeat does with this client now.
    enum Decision: Equatable {
        case none
        case ping
        case giveUp
    }

    /// When anything last arrived from the client.
    private(set) var lastInbound: UInt64
    /// When the client was pinged, silent since; nil once anything arrives.
    private var pingedAt: UInt64?

    init(now: UInt64) {
        lastInbound = now
    }

    /// Bytes arrived from the client.
    mutating func heard(at now: UInt64) {
        lastInbound = now
        pingedAt = nil
    }

    mutating func check(now: UInt64, interval: UInt64) -> Decision {
        guard now &- lastInbound >= interval else { return .none }
        guard let pingedAt else {
            self.pingedAt = now
            return .ping
        }
        return now &- pingedAt >= interval ? .giveUp : .none
    }
}
