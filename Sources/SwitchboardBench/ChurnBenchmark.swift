import Foundation
import Histogram
import NIOCore
import NIOPosix
import SwitchboardCore
import Synchronization

/// Connection churn: `workers` loops, each connecting, waiting for the welcome, subscribing,
/// waiting for `subscribed`, closing cleanly (1000) and starting over. Reports cycles per second,
/// connect→subscribed latency and failures: the cost of clients that come and go.
public struct ChurnBenchmark {
    public struct Configuration: Sendable {
        public var target: LoadTarget
        public var workers = 32
        public var duration = Duration.seconds(5)
        public var threads = 1
        public var channel = "churn"

        public init(target: LoadTarget) {
            self.target = target
        }
    }

    public struct Result: Sendable, Codable {
        public var workers: Int
        public var durationSeconds: Double
        public var cycles: Int
        public var cyclesPerSecond: Double
        public var failures: Int
        public var latencyMicroseconds: LatencySummary
    }

    let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func run(progress: @escaping @Sendable (_ elapsedSeconds: Double, _ cycles: Int) -> Void = { _, _ in }) async throws -> Result {
        let configuration = self.configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let shared = SharedCounters()
        let stats = Array(group.makeIterator()).map { LoopStats(eventLoop: $0, shared: shared) }
        let workers = (0..<configuration.workers).map {
            ChurnWorker(target: configuration.target, channel: configuration.channel, stats: stats[$0 % stats.count])
        }
        let start = ContinuousClock.now
        for worker in workers { worker.stats.eventLoop.execute { worker.cycle() } }
        while ContinuousClock.now - start < configuration.duration {
            try await Task.sleep(for: .seconds(1))
            progress((ContinuousClock.now - start).seconds, shared.delivered.load(ordering: .relaxed))
        }
        for worker in workers { try await worker.stats.eventLoop.submit { worker.stop() }.get() }
        let elapsed = (ContinuousClock.now - start).seconds
        var histogram = LatencyHistogram.make(precision: .three)
        var cycles = 0
        var failures = 0
        for stat in stats {
            let (part, count, failed) = try await stat.eventLoop.submit { (stat.histogram, stat.received, stat.errors) }.get()
            histogram.add(part)
            cycles += count
            failures += failed
        }
        try? await Task.sleep(for: .milliseconds(200))
        try? await group.shutdownGracefully()
        return Result(
            workers: configuration.workers, durationSeconds: elapsed, cycles: cycles,
            cyclesPerSecond: Double(cycles) / max(elapsed, 1e-3), failures: failures, latencyMicroseconds: LatencySummary(histogram)
        )
    }
}

/// One churning client slot: a new connection per cycle, on its own loop.
final class ChurnWorker: LoadClientRole, @unchecked Sendable {
    let stats: LoopStats
    private let target: LoadTarget
    private let subscribe: String
    private var running = true
    private var startedAt: UInt64 = 0
    private var subscribed = false

    init(target: LoadTarget, channel: String, stats: LoopStats) {
        self.target = target
        self.subscribe = "{\"type\":\"subscribe\",\"channel\":\"\(channel)\"}"
        self.stats = stats
    }

    /// Starts one connect → subscribe → close cycle. Loop only.
    func cycle() {
        guard running else { return }
        startedAt = NIODeadline.now().uptimeNanoseconds
        subscribed = false
        LoadClient.connect(to: target, on: stats.eventLoop, role: self).whenFailure { [self] _ in
            stats.errors += 1
            stats.eventLoop.scheduleTask(in: .milliseconds(10)) { self.cycle() }
        }
    }

    func stop() {
        running = false
    }

    func received(_ client: LoadClient, text: ByteBuffer) {
        let body = String(buffer: text)
        if body.hasPrefix("{\"type\":\"welcome\"") {
            client.sendText(subscribe)
            client.flush()
        } else if body.hasPrefix("{\"type\":\"subscribed\"") {
            subscribed = true
            let now = NIODeadline.now().uptimeNanoseconds
            stats.record(sentAt: startedAt, now: now)
            stats.report(now: now)
            client.send(.close, payload: ByteBuffer(bytes: [0x03, 0xE8]))
            client.flush()
        }
    }

    func closed(_ client: LoadClient, code: UInt16?) {
        if !subscribed { stats.errors += 1 }
        cycle()
    }

    func failed(_ client: LoadClient, reason: String) {
        stats.errors += 1
        stats.eventLoop.scheduleTask(in: .milliseconds(10)) { self.cycle() }
    }
}
