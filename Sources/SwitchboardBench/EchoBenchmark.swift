import Foundation
import Histogram
import NIOCore
import NIOPosix
import SwitchboardCore
import Synchronization

/// Echo load: `connections` clients each keep `inFlight` text messages of `payloadBytes` at the
/// server's echo route, sending one more for every echo received. Reports messages per second,
/// round-trip latency and, given the server's pid, messages per server CPU-second.
public struct EchoBenchmark {
    public struct Configuration: Sendable {
        public var target: LoadTarget
        public var connections = 50
        public var inFlight = 8
        public var payloadBytes = 64
        public var duration = Duration.seconds(5)
        public var threads = 1
        /// The server's pid, to read the CPU time it spent from /proc.
        public var serverPID: Int32?

        public init(target: LoadTarget) {
            self.target = target
        }
    }

    public struct Result: Sendable, Codable {
        public var connections: Int
        public var inFlight: Int
        public var payloadBytes: Int
        public var durationSeconds: Double
        public var messages: Int
        public var messagesPerSecond: Double
        /// Echoes that came back different from what was sent.
        public var mismatched: Int
        public var closedConnections: Int
        public var serverCPUSeconds: Double?
        public var messagesPerServerCPUSecond: Double?
        public var latencyMicroseconds: LatencySummary
    }

    /// A progress sample while the benchmark runs.
    public struct Progress: Sendable {
        public var elapsedSeconds: Double
        public var messages: Int
        public var messagesPerSecond: Double
    }

    let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func run(progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Result {
        let configuration = self.configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let shared = SharedCounters()
        let loops = Array(group.makeIterator())
        let stats = loops.map { LoopStats(eventLoop: $0, shared: shared) }
        let payload = ByteBuffer(repeating: UInt8(ascii: "e"), count: configuration.payloadBytes)
        var clients: [EchoClient] = []
        for n in 0..<configuration.connections {
            let client = EchoClient(stats: stats[n % stats.count], payload: payload, inFlight: configuration.inFlight)
            clients.append(client)
            _ = try await LoadClient.connect(to: configuration.target, on: client.stats.eventLoop, role: client).get()
            try await client.opened.futureResult.get()
        }
        let cpuBefore = configuration.serverPID.flatMap(Self.cpuSeconds)
        let start = ContinuousClock.now
        for client in clients { client.stats.eventLoop.execute { client.start() } }
        var last = (time: start, messages: 0)
        while ContinuousClock.now - start < configuration.duration {
            try await Task.sleep(for: .seconds(1))
            let now = ContinuousClock.now
            let messages = shared.delivered.load(ordering: .relaxed)
            progress(
                Progress(
                    elapsedSeconds: (now - start).seconds, messages: messages,
                    messagesPerSecond: Double(messages - last.messages) / max((now - last.time).seconds, 1e-3)
                ))
            last = (now, messages)
        }
        for client in clients { client.stats.eventLoop.execute { client.stop() } }
        let elapsed = (ContinuousClock.now - start).seconds
        let cpuAfter = configuration.serverPID.flatMap(Self.cpuSeconds)
        try? await Task.sleep(for: .milliseconds(200))  // echoes still in flight
        var histogram = LatencyHistogram.make(precision: .three)
        var messages = 0
        var mismatched = 0
        for stat in stats {
            let (part, count, bad) = try await stat.eventLoop.submit { (stat.histogram, stat.received, stat.errors) }.get()
            histogram.add(part)
            messages += count
            mismatched += bad
        }
        let closed = clients.filter { $0.isClosed.load(ordering: .relaxed) }.count
        for client in clients { client.stats.eventLoop.execute { client.client?.context?.close(promise: nil) } }
        try? await Task.sleep(for: .milliseconds(100))
        try? await group.shutdownGracefully()
        var cpu: Double?
        if let cpuBefore, let cpuAfter { cpu = cpuAfter - cpuBefore }
        return Result(
            connections: configuration.connections, inFlight: configuration.inFlight, payloadBytes: configuration.payloadBytes,
            durationSeconds: elapsed, messages: messages, messagesPerSecond: Double(messages) / max(elapsed, 1e-3),
            mismatched: mismatched, closedConnections: closed,
            serverCPUSeconds: cpu, messagesPerServerCPUSecond: cpu.flatMap { $0 > 0 ? Double(messages) / $0 : nil },
            latencyMicroseconds: LatencySummary(histogram)
        )
    }

    /// User plus system CPU seconds a process has used (/proc/PID/stat, fields 14 and 15).
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// Keeps `inFlight` messages at the echo route; each echo is checked, timed and replaced.
final class EchoClient: LoadClientRole, @unchecked Sendable {
    let stats: LoopStats
    let opened: EventLoopPromise<Void>
    let isClosed = Atomic<Bool>(false)
    private let payload: ByteBuffer
    private let inFlight: Int
    private var sentAt = CircularBuffer<UInt64>()
    private var running = false
    private(set) var client: LoadClient?

    init(stats: LoopStats, payload: ByteBuffer, inFlight: Int) {
        self.stats = stats
        self.payload = payload
        self.inFlight = inFlight
        self.opened = stats.eventLoop.makePromise()
    }

    func opened(_ client: LoadClient) {
        self.client = client
        opened.succeed()
    }

    func start() {
        running = true
        for _ in 0..<inFlight { send() }
        client?.flush()
    }

    func stop() {
        running = false
    }

    private func send() {
        sentAt.append(NIODeadline.now().uptimeNanoseconds)
        client?.send(.text, payload: payload)
    }

    func received(_ client: LoadClient, text: ByteBuffer) {
        guard let sent = sentAt.popFirst() else { return }
        if text != payload { stats.errors += 1 }
        stats.record(sentAt: sent, now: NIODeadline.now().uptimeNanoseconds)
        if running { send() }
    }

    func readComplete(_ client: LoadClient) {
        client.flush()
        stats.report(now: NIODeadline.now().uptimeNanoseconds)
    }

    func closed(_ client: LoadClient, code: UInt16?) {
        isClosed.store(true, ordering: .relaxed)
        opened.fail(LoadError("closed (code \(code.map(String.init) ?? "none"))"))
    }

    func failed(_ client: LoadClient, reason: String) {
        opened.fail(LoadError("handshake refused: \(reason)"))
    }
}
