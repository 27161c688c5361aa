import Foundation
import NIOCore
import NIOPosix

/// Idle load: opens `connections` WebSocket clients, waits for each welcome, holds them, and
/// reports the connect rate and (given the server's pid) the server's resident memory per
/// connection.
public struct IdleBenchmark {
    public struct Configuration: Sendable {
        public var target: LoadTarget
        public var connections = 10_000
        /// Connections opened at once.
        public var concurrency = 256
        /// Tries per connection: a connect that fails (a full listen backlog during a connect
        /// storm, a reset) is tried again after a pause, up to this many times in all.
        public var attempts = 3
        public var threads = 1
        /// How long to hold the connections before measuring memory.
        public var hold = Duration.seconds(2)
        /// The server's pid, to read its resident memory from /proc.
        public var serverPID: Int32?
        /// Source addresses to spread connections over (127.0.0.x), beyond ~28k ports each.
        public var sourceAddresses: [String] = []

        public init(target: LoadTarget) {
            self.target = target
        }
    }

    public struct Result: Sendable, Codable {
        public var connections: Int
        public var failed: Int
        /// Connections that failed at first and were opened by a later try.
        public var retried: Int
        /// Why the last connect that failed for good failed.
        public var lastFailure: String?
        public var connectSeconds: Double
        public var connectsPerSecond: Double
        public var serverRSSBeforeBytes: Int?
        public var serverRSSAfterBytes: Int?
        public var serverBytesPerConnection: Double?
    }

    let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Opens the connections, holds them, measures; `progress` is told how many were tried so
    /// far, how many of those failed on every try and, when some did, why the last of them failed.
    public func run(progress: @escaping @Sendable (_ tried: Int, _ failed: Int, _ lastFailure: String?) -> Void = { _, _, _ in }) async throws
        -> Result
    {
        let configuration = self.configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let loops = Array(group.makeIterator())
        let before = configuration.serverPID.flatMap(Self.residentBytes)
        let start = ContinuousClock.now
        var clients: [IdleClient] = []
        var failed = 0
        var retried = 0
        var lastFailure: String?
        let attempts = max(1, configuration.attempts)
        var index = 0
        while index < configuration.connections {
            let batch = min(configuration.concurrency, configuration.connections - index)
            var pending = Array(index..<(index + batch))
            for attempt in 1...attempts where !pending.isEmpty {
                if attempt > 1 { try? await Task.sleep(for: .milliseconds(500)) }
                let tries = pending.map { n in
                    let loop = loops[n % loops.count]
                    let client = IdleClient(eventLoop: loop)
                    let source = configuration.sourceAddresses.isEmpty ? nil : configuration.sourceAddresses[n % configuration.sourceAddresses.count]
                    let opened = LoadClient.connect(to: configuration.target, on: loop, role: client, bindingTo: source)
                        .flatMap { _ in client.welcomed.futureResult }
                    return (n, client, opened)
                }
                pending = []
                for (n, client, opened) in tries {
                    do {
                        try await opened.get()
                        clients.append(client)
                        if attempt > 1 { retried += 1 }
                    } catch {
                        client.welcomed.fail(error)  // still pending when the connect itself failed
                        if attempt == attempts { lastFailure = "\(error)" }
                        client.eventLoop.execute { client.client?.context?.close(promise: nil) }
                        pending.append(n)
                    }
                }
            }
            failed += pending.count
            index += batch
            progress(index, failed, lastFailure)
        }
        let connectSeconds = (ContinuousClock.now - start).seconds
        try? await Task.sleep(for: configuration.hold)
        let after = configuration.serverPID.flatMap(Self.residentBytes)
        let held = configuration.connections - failed
        for client in clients {
            client.eventLoop.execute { client.client?.context?.close(promise: nil) }
        }
        try? await Task.sleep(for: .milliseconds(200))
        try? await group.shutdownGracefully()
        var perConnection: Double?
        if let before, let after, held > 0 { perConnection = Double(after - before) / Double(held) }
        return Result(
            connections: held,
            failed: failed,
            retried: retried,
            lastFailure: lastFailure,
            connectSeconds: connectSeconds,
            connectsPerSecond: Double(held) / max(connectSeconds, 1e-3),
            serverRSSBeforeBytes: before,
            serverRSSAfterBytes: after,
            serverBytesPerConnection: perConnection
        )
    }

    /// VmRSS of a process, in bytes.
    static func residentBytes(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first
        return kilobytes.map { $0 * 1024 }
    }
}

/// Waits for the welcome, then does nothing (answering pings is the load client's job).
final class IdleClient: LoadClientRole, @unchecked Sendable {
    let eventLoop: any EventLoop
    let welcomed: EventLoopPromise<Void>
    private(set) var client: LoadClient?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.welcomed = eventLoop.makePromise()
    }

    func received(_ client: LoadClient, text: ByteBuffer) {
        if self.client == nil {
            self.client = client
            welcomed.succeed()
        }
    }

    func closed(_ client: LoadClient, code: UInt16?) {
        welcomed.fail(LoadError("closed (code \(code.map(String.init) ?? "none"))"))
    }

    func failed(_ client: LoadClient, reason: String) {
        welcomed.fail(LoadError("handshake refused: \(reason)"))
    }
}
