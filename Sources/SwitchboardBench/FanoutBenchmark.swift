import SwitchboardCore
import Histogram
import NIOCore
import NIOPosix
import Synchronization

/// Fan-out load: `subscribers` clients on one channel, `publishers` clients publishing to it,
/// either as fast as the subscribers keep up (a bounded window of undelivered messages) or at a
/// fixed open-loop rate. Measures deliveries per second, publish→receive latency and losses.
public struct FanoutBenchmark {
    public struct Configuration: Sendable {
        /// Where the publishers connect.
        public var target: LoadTarget
        /// Where the subscribers connect, in turn (several nodes of a cluster); empty: ``target``.
        public var subscriberTargets: [LoadTarget] = []
        public var subscribers = 1000
        public var publishers = 1
        /// Size of each message's `data` value in bytes.
        public var payloadBytes = 64
        public var duration = Duration.seconds(10)
        /// Total publishes per second across publishers (open loop); nil = as fast as delivered.
        public var rate: Double?
        /// Closed-loop window: publishes not yet delivered to every subscriber.
        public var window = 64
        public var threads = 1
        public var channel = "bench"
        /// How long to wait for in-flight messages after publishing stops.
        public var drainTimeout = Duration.seconds(10)

        public init(target: LoadTarget) {
            self.target = target
        }
    }

    /// One progress line's figures.
    public struct Progress: Sendable {
        public var elapsedSeconds: Double
        public var deliveriesPerSecond: Double
        public var published: Int
        public var delivered: Int
    }

    public struct Result: Sendable, Codable {
        public var subscribers: Int
        public var publishers: Int
        public var payloadBytes: Int
        public var durationSeconds: Double
        public var published: Int
        public var expectedDeliveries: Int
        public var deliveries: Int
        public var deliveriesPerSecond: Double
        public var lost: Int
        /// Publishes the hub answered with an error (its rate limit, a full queue, Redis down):
        /// refused, not lost, and not expected.
        public var refused: Int
        public var outOfOrder: Int
        public var closedSubscribers: Int
        public var latencyMicroseconds: LatencySummary
    }

    let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func run(progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Result {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        do {
            let result = try await run(on: group, progress: progress)
            try? await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(on group: MultiThreadedEventLoopGroup, progress: @escaping @Sendable (Progress) -> Void) async throws -> Result {
        let configuration = self.configuration
        let loops = Array(group.makeIterator())
        let shared = SharedCounters()
        let loopStats = loops.map { LoopStats(eventLoop: $0, shared: shared) }

        // Subscribers first, all subscribed before anyone publishes.
        var subscribers: [Subscriber] = []
        for batchStart in stride(from: 0, to: configuration.subscribers, by: 256) {
            var ready: [EventLoopFuture<Void>] = []
            for index in batchStart..<min(batchStart + 256, configuration.subscribers) {
                let stats = loopStats[index % loops.count]
                let subscriber = Subscriber(channel: configuration.channel, stats: stats, publishers: configuration.publishers)
                subscribers.append(subscriber)
                let target =
                    configuration.subscriberTargets.isEmpty
                    ? configuration.target : configuration.subscriberTargets[index % configuration.subscriberTargets.count]
                let connected = LoadClient.connect(to: target, on: stats.eventLoop, role: subscriber)
                ready.append(connected.flatMap { _ in subscriber.subscribed.futureResult })
            }
            do {
                try await EventLoopFuture.andAllSucceed(ready, on: loops[0]).get()
            } catch {
                throw LoadError("could not connect and subscribe \(configuration.subscribers) clients: \(error)")
            }
        }

        let publishers = (0..<configuration.publishers).map { index in
            Publisher(
                index: index,
                configuration: configuration,
                stats: loopStats[(configuration.subscribers + index) % loops.count],
                shared: shared
            )
        }
        for publisher in publishers {
            do {
                _ = try await LoadClient.connect(to: configuration.target, on: publisher.stats.eventLoop, role: publisher).get()
                try await publisher.welcomed.futureResult.get()
            } catch {
                throw LoadError("could not connect publisher: \(error)")
            }
        }

        // Publish for the duration, reporting once a second.
        let start = ContinuousClock.now
        for publisher in publishers { publisher.stats.eventLoop.execute { publisher.start() } }
        var lastDelivered = 0
        var lastTime = start
        while ContinuousClock.now - start < configuration.duration {
            try? await Task.sleep(for: .seconds(1))
            let now = ContinuousClock.now
            let delivered = shared.delivered.load(ordering: .relaxed)
            progress(
                Progress(
                    elapsedSeconds: (now - start).seconds,
                    deliveriesPerSecond: Double(delivered - lastDelivered) / max((now - lastTime).seconds, 1e-3),
                    published: shared.published.load(ordering: .relaxed),
                    delivered: delivered
                )
            )
            lastDelivered = delivered
            lastTime = now
        }
        for publisher in publishers {
            try? await publisher.stats.eventLoop.submit { publisher.stop() }.get()
        }
        // Drain: wait for what is in flight, as long as it keeps arriving (refusals of the
        // last publishes may still come back meanwhile, so what is expected is read each time).
        let drainStart = ContinuousClock.now
        while shared.delivered.load(ordering: .relaxed) < shared.published.load(ordering: .relaxed) * configuration.subscribers
            && ContinuousClock.now - drainStart < configuration.drainTimeout
        {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let publishedAtStop = shared.published.load(ordering: .relaxed)
        let expected = publishedAtStop * configuration.subscribers
        let elapsed = (ContinuousClock.now - start).seconds

        var histogram = LatencyHistogram.make(precision: .three)
        var deliveries = 0
        var outOfOrder = 0
        for stats in loopStats {
            let (part, count, disorder) = try await stats.eventLoop.submit { (stats.histogram, stats.received, stats.outOfOrder) }.get()
            histogram.add(part)
            deliveries += count
            outOfOrder += disorder
        }
        let closed = subscribers.filter { $0.isClosed.load(ordering: .relaxed) }.count
        for subscriber in subscribers {
            subscriber.stats.eventLoop.execute { subscriber.client?.context?.close(promise: nil) }
        }
        for publisher in publishers {
            publisher.stats.eventLoop.execute { publisher.client?.context?.close(promise: nil) }
        }
        let measured = (shared.lastDeliveryTime.load(ordering: .relaxed) > 0 ? publishingSeconds(start: start, shared: shared) : elapsed)

        return Result(
            subscribers: configuration.subscribers,
            publishers: configuration.publishers,
            payloadBytes: configuration.payloadBytes,
            durationSeconds: measured,
            published: publishedAtStop,
            expectedDeliveries: expected,
            deliveries: deliveries,
            deliveriesPerSecond: Double(deliveries) / max(measured, 1e-3),
            lost: max(0, expected - deliveries),
            refused: shared.refused.load(ordering: .relaxed),
            outOfOrder: outOfOrder,
            closedSubscribers: closed,
            latencyMicroseconds: LatencySummary(histogram)
        )
    }

    /// Seconds from the start of publishing to the last delivery.
    private func publishingSeconds(start: ContinuousClock.Instant, shared: SharedCounters) -> Double {
        let startNanos = shared.startTime.load(ordering: .relaxed)
        let lastNanos = shared.lastDeliveryTime.load(ordering: .relaxed)
        guard startNanos > 0, lastNanos > startNanos else { return (ContinuousClock.now - start).seconds }
        return Double(lastNanos - startNanos) / 1e9
    }
}

/// Latency percentiles in microseconds.
public struct LatencySummary: Sendable, Codable {
    public var p50: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64
    public var count: UInt64

    init(_ histogram: Histogram<UInt64>) {
        p50 = histogram.valueAtPercentile(50)
        p99 = histogram.valueAtPercentile(99)
        p999 = histogram.valueAtPercentile(99.9)
        max = histogram.max
        count = histogram.totalCount
    }
}

/// Counters every loop writes and the coordinator reads.
final class SharedCounters: Sendable {
    let delivered = Atomic<Int>(0)
    /// Publishes the hub accepted (sent, less those it answered with an error).
    let published = Atomic<Int>(0)
    /// Publishes the hub refused with an error (`rate_limited`, `overloaded`, `unavailable`).
    let refused = Atomic<Int>(0)
    let startTime = Atomic<UInt64>(0)
    let lastDeliveryTime = Atomic<UInt64>(0)
}

/// Per-event-loop measurements; touched only on its loop.
final class LoopStats: @unchecked Sendable {
    let eventLoop: any EventLoop
    let shared: SharedCounters
    var histogram = LatencyHistogram.make(precision: .three)
    var received = 0
    var outOfOrder = 0
    /// What the echo and churn benchmarks count as failed: wrong echoes, broken cycles.
    var errors = 0
    private var unreported = 0

    init(eventLoop: any EventLoop, shared: SharedCounters) {
        self.eventLoop = eventLoop
        self.shared = shared
    }

    func record(sentAt: UInt64, now: UInt64) {
        received += 1
        unreported += 1
        _ = histogram.record(now > sentAt ? (now - sentAt) / 1000 : 0)
    }

    /// Publishes this loop's new deliveries to the shared counter (once per read batch).
    func report(now: UInt64) {
        guard unreported > 0 else { return }
        shared.delivered.wrappingAdd(unreported, ordering: .relaxed)
        shared.lastDeliveryTime.store(now, ordering: .relaxed)
        unreported = 0
    }
}

/// Subscribes on welcome, then records every message's latency and sequence.
final class Subscriber: LoadClientRole, @unchecked Sendable {
    let channel: String
    let stats: LoopStats
    let subscribed: EventLoopPromise<Void>
    private var isSubscribed = false
    /// Read by the coordinator after the run.
    let isClosed = Atomic<Bool>(false)
    private(set) var client: LoadClient?
    private var lastSequence: [Int]

    init(channel: String, stats: LoopStats, publishers: Int) {
        self.channel = channel
        self.stats = stats
        self.subscribed = stats.eventLoop.makePromise()
        self.lastSequence = Array(repeating: 0, count: max(1, publishers))
    }

    func received(_ client: LoadClient, text: ByteBuffer) {
        guard isSubscribed else {
            let body = String(buffer: text)
            if body.hasPrefix("{\"type\":\"welcome\"") {
                self.client = client
                client.sendText("{\"type\":\"subscribe\",\"channel\":\"\(channel)\"}")
                client.flush()
            } else if body.hasPrefix("{\"type\":\"subscribed\"") {
                isSubscribed = true
                subscribed.succeed()
            }
            return
        }
        guard let fields = BenchPayload.parse(text) else { return }
        stats.record(sentAt: fields.sentAt, now: NIODeadline.now().uptimeNanoseconds)
        if fields.publisher < lastSequence.count {
            if fields.sequence != lastSequence[fields.publisher] + 1 { stats.outOfOrder += 1 }
            lastSequence[fields.publisher] = fields.sequence
        }
    }

    func readComplete(_ client: LoadClient) {
        stats.report(now: NIODeadline.now().uptimeNanoseconds)
    }

    func closed(_ client: LoadClient, code: UInt16?) {
        isClosed.store(true, ordering: .relaxed)
        if !isSubscribed { subscribed.fail(LoadError("closed before subscribing (code \(code.map(String.init) ?? "none"))")) }
    }

    func failed(_ client: LoadClient, reason: String) {
        isClosed.store(true, ordering: .relaxed)
        subscribed.fail(LoadError("handshake refused: \(reason)"))
    }
}

/// Publishes timestamped, numbered messages: closed-loop within a window, or at a fixed rate.
final class Publisher: LoadClientRole, @unchecked Sendable {
    let index: Int
    let configuration: FanoutBenchmark.Configuration
    let stats: LoopStats
    let shared: SharedCounters
    let welcomed: EventLoopPromise<Void>
    private(set) var client: LoadClient?
    private var running = false
    private var sent = 0
    private var startedAt: UInt64 = 0
    private var timer: RepeatedTask?
    private let padding: String

    init(index: Int, configuration: FanoutBenchmark.Configuration, stats: LoopStats, shared: SharedCounters) {
        self.index = index
        self.configuration = configuration
        self.stats = stats
        self.shared = shared
        self.welcomed = stats.eventLoop.makePromise()
        // {"t":<19 digits>,"p":<p>,"n":<up to 10 digits>,"x":"…"} ≈ payloadBytes in all.
        let overhead = 48
        self.padding = String(repeating: "x", count: max(0, configuration.payloadBytes - overhead))
    }

    func received(_ client: LoadClient, text: ByteBuffer) {
        if self.client == nil {
            self.client = client
            welcomed.succeed()
        } else if text.readableBytesView.starts(with: Self.errorPrefix) {
            shared.published.wrappingSubtract(1, ordering: .relaxed)
            shared.refused.wrappingAdd(1, ordering: .relaxed)
        }
    }

    private static let errorPrefix = Array("{\"type\":\"error\"".utf8)

    func readComplete(_ client: LoadClient) {
        if running && configuration.rate == nil { pump() }
    }

    func closed(_ client: LoadClient, code: UInt16?) {
        running = false
        welcomed.fail(LoadError("publisher closed (code \(code.map(String.init) ?? "none"))"))
    }

    func failed(_ client: LoadClient, reason: String) {
        welcomed.fail(LoadError("handshake refused: \(reason)"))
    }

    func start() {
        running = true
        startedAt = NIODeadline.now().uptimeNanoseconds
        _ = shared.startTime.compareExchange(expected: 0, desired: startedAt, ordering: .relaxed)
        timer = stats.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { [weak self] _ in
            self?.pump()
        }
        pump()
    }

    func stop() {
        running = false
        timer?.cancel()
    }

    private func pump() {
        guard running, let client else { return }
        var budget: Int
        if let rate = configuration.rate {
            let elapsed = Double(NIODeadline.now().uptimeNanoseconds - startedAt) / 1e9
            budget = Int(elapsed * rate / Double(configuration.publishers)) - sent
        } else {
            let inFlight = shared.published.load(ordering: .relaxed) * configuration.subscribers - shared.delivered.load(ordering: .relaxed)
            budget = (configuration.window * configuration.subscribers - inFlight) / max(1, configuration.subscribers)
        }
        budget = min(budget, 256)
        guard budget > 0 else { return }
        for _ in 0..<budget {
            sent += 1
            let now = NIODeadline.now().uptimeNanoseconds
            client.sendText(
                "{\"type\":\"publish\",\"channel\":\"\(configuration.channel)\",\"data\":{\"t\":\(now),\"p\":\(index),\"n\":\(sent),\"x\":\"\(padding)\"}}"
            )
        }
        shared.published.wrappingAdd(budget, ordering: .relaxed)
        client.flush()
    }
}

/// The fields a bench message carries in its `data`.
enum BenchPayload {
    struct Fields {
        var sentAt: UInt64
        var publisher: Int
        var sequence: Int
    }

    private static let marker: [UInt8] = Array("\"data\":{\"t\":".utf8)

    /// Reads `t`, `p` and `n` from a `message` frame's text without building a string.
    static func parse(_ text: ByteBuffer) -> Fields? {
        text.withUnsafeReadableBytes { bytes -> Fields? in
            guard let start = find(marker, in: bytes) else { return nil }
            var index = start + marker.count
            func number() -> UInt64? {
                var value: UInt64 = 0
                let first = index
                while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                    value = value &* 10 &+ UInt64(bytes[index] - 48)
                    index += 1
                }
                return index > first ? value : nil
            }
            guard let sentAt = number() else { return nil }
            index += 5  // ,"p":
            guard let publisher = number() else { return nil }
            index += 5  // ,"n":
            guard let sequence = number() else { return nil }
            return Fields(sentAt: sentAt, publisher: Int(publisher), sequence: Int(sequence))
        }
    }

    /// Offset of `needle` in `bytes` (a plain scan: the marker sits in the first few dozen bytes).
    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= needle.count, let first = needle.first else { return nil }
        var index = 0
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first {
                var k = 1
                while k < needle.count && bytes[index + k] == needle[k] { k += 1 }
                if k == needle.count { return index }
            }
            index += 1
        }
        return nil
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
