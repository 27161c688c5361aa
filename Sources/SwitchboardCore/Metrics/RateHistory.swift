/// Per-second samples of monotonically growing totals, for rates over windows and sparklines.
///
/// The metrics collector appends one sample per second; a rate over a window is the difference
/// of two samples, so it never drifts, whatever the sampling jitter.
public struct RateHistory: Sendable {
    /// One second's totals.
    public struct Sample: Sendable, Equatable {
        /// Monotonic seconds when taken.
        public var time: Double
        public var messagesIn: Int
        public var messagesOut: Int
        public var bytesIn: Int
        public var bytesOut: Int
        public var deliveries: Int
        public var published: Int
        /// A gauge (not a total): connections at that moment.
        public var connections: Int

        public init(
            time: Double, messagesIn: Int = 0, messagesOut: Int = 0, bytesIn: Int = 0, bytesOut: Int = 0, deliveries: Int = 0, published: Int = 0,
            connections: Int = 0
        ) {
            self.time = time
            self.messagesIn = messagesIn
            self.messagesOut = messagesOut
            self.bytesIn = bytesIn
            self.bytesOut = bytesOut
            self.deliveries = deliveries
            self.published = published
            self.connections = connections
        }
    }

    public let capacity: Int
    private var samples: [Sample] = []
    private var start = 0

    /// Keeps `capacity` samples: 601 covers ten minutes of per-second rates.
    public init(capacity: Int = 601) {
        self.capacity = max(2, capacity)
    }

    public mutating func append(_ sample: Sample) {
        if samples.count < capacity {
            samples.append(sample)
        } else {
            samples[start] = sample
            start = (start + 1) % capacity
        }
    }

    public var count: Int { samples.count }

    /// The sample `back` steps before the newest (0 = newest).
    public func sample(back: Int) -> Sample? {
        guard back >= 0, back < samples.count else { return nil }
        return samples[(start + samples.count - 1 - back) % samples.count]
    }

    /// Per-second rates over the last `seconds` (or as much history as there is).
    public func rates(over seconds: Int) -> Rates {
        guard let newest = sample(back: 0), samples.count >= 2 else { return Rates() }
        let older = sample(back: min(seconds, samples.count - 1))!
        let elapsed = max(newest.time - older.time, 1e-3)
        func rate(_ value: KeyPath<Sample, Int>) -> Double { Double(newest[keyPath: value] - older[keyPath: value]) / elapsed }
        return Rates(
            messagesIn: rate(\.messagesIn),
            messagesOut: rate(\.messagesOut),
            bytesIn: rate(\.bytesIn),
            bytesOut: rate(\.bytesOut),
            deliveries: rate(\.deliveries),
            published: rate(\.published)
        )
    }

    /// Per-second values of the last `count` seconds, oldest first (for sparklines).
    public func series(_ count: Int) -> Series {
        var series = Series()
        let available = min(count, samples.count - 1)
        guard available > 0 else { return series }
        for back in stride(from: available - 1, through: 0, by: -1) {
            let newer = sample(back: back)!
            let older = sample(back: back + 1)!
            let elapsed = max(newer.time - older.time, 1e-3)
            series.messagesIn.append((Double(newer.messagesIn - older.messagesIn) / elapsed).rounded())
            series.messagesOut.append((Double(newer.messagesOut - older.messagesOut) / elapsed).rounded())
            series.bytesIn.append((Double(newer.bytesIn - older.bytesIn) / elapsed).rounded())
            series.bytesOut.append((Double(newer.bytesOut - older.bytesOut) / elapsed).rounded())
            series.connections.append(Double(newer.connections))
        }
        return series
    }
}

/// Rates per second over one window.
public struct Rates: Codable, Sendable, Equatable {
    public var messagesIn = 0.0
    public var messagesOut = 0.0
    public var bytesIn = 0.0
    public var bytesOut = 0.0
    public var deliveries = 0.0
    public var published = 0.0

    public init(
        messagesIn: Double = 0, messagesOut: Double = 0, bytesIn: Double = 0, bytesOut: Double = 0, deliveries: Double = 0, published: Double = 0
    ) {
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.deliveries = deliveries
        self.published = published
    }
}

/// Per-second history, oldest first.
public struct Series: Codable, Sendable, Equatable {
    public var messagesIn: [Double] = []
    public var messagesOut: [Double] = []
    public var bytesIn: [Double] = []
    public var bytesOut: [Double] = []
    public var connections: [Double] = []

    public init() {}
}
