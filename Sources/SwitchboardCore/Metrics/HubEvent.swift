/// A lifecycle event of the hub, as kept in the event log and streamed to operators.
public struct HubEvent: Codable, Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case connect
        case disconnect
        case kick
        case slowConsumer = "slow_consumer"
        case broadcast
        case error
        case restart
        case server
        /// Connections refused by a per-address or per-user limit (once per source a minute).
        case refused
        /// An operator started a trace (the detail names its target and reader).
        case traceStarted = "trace_started"
        /// A trace ended (the detail says why).
        case traceStopped = "trace_stopped"
    }

    /// Position in the log; strictly increasing, for `GET /api/events?since=`.
    public var sequence: UInt64
    /// Wall-clock time, seconds since 1970.
    public var time: Double
    public var kind: Kind
    /// The client concerned, if any.
    public var client: String?
    /// The close code, for disconnects and kicks.
    public var code: Int?
    /// Human-readable details: a close reason, an actor name, an error.
    public var detail: String

    public init(sequence: UInt64 = 0, time: Double, kind: Kind, client: String? = nil, code: Int? = nil, detail: String = "") {
        self.sequence = sequence
        self.time = time
        self.kind = kind
        self.client = client
        self.code = code
        self.detail = detail
    }
}

/// The last `capacity` events, oldest first.
public struct EventLog: Sendable {
    public let capacity: Int
    private var events: [HubEvent] = []
    private var start = 0
    /// Sequence number the next event gets.
    public private(set) var nextSequence: UInt64 = 1

    public init(capacity: Int = 1000) {
        self.capacity = max(1, capacity)
    }

    /// Appends an event, numbering it and evicting the oldest beyond capacity.
    @discardableResult
    public mutating func append(_ event: HubEvent) -> HubEvent {
        var numbered = event
        numbered.sequence = nextSequence
        nextSequence += 1
        if events.count < capacity {
            events.append(numbered)
        } else {
            events[start] = numbered
            start = (start + 1) % capacity
        }
        return numbered
    }

    /// Events with a sequence number above `since`, oldest first, at most `limit`.
    public func events(since: UInt64 = 0, limit: Int = .max) -> [HubEvent] {
        var result: [HubEvent] = []
        for offset in 0..<events.count {
            let event = events[(start + offset) % events.count]
            if event.sequence > since { result.append(event) }
        }
        return result.count > limit ? Array(result.suffix(limit)) : result
    }
}
