import ArgumentParser
import Foundation
import SwitchboardBench

/// `switchboard bench`: load generators to measure a running hub (this one or a peer).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a running hub with real WebSocket clients.",
        discussion:
            "Run the server separately (pinned with taskset for fair numbers) and point the bench at it. See BENCHMARKS.md for the exact commands behind every published figure.",
        subcommands: [Fanout.self, Echo.self, Churn.self, Idle.self, Replay.self]
    )
}

extension Bench {
    /// Prints a result as pretty JSON (`--json`) or as the command's table.
    static func report(_ result: some Encodable, json: Bool, table: () -> String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(table())
        }
    }

    /// `latency     p50 … p99 … p99.9 … max …`, in milliseconds.
    static func latencyLine(_ latency: LatencySummary) -> String {
        func ms(_ micros: UInt64) -> String { String(format: "%.2f ms", Double(micros) / 1000) }
        return "latency     p50 \(ms(latency.p50))  p99 \(ms(latency.p99))  p99.9 \(ms(latency.p999))  max \(ms(latency.max))"
    }

    /// One publisher (or a few) to many subscribers of one channel.
    struct Fanout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fan-out: P publishers → N subscribers on one channel.",
            discussion: """
                Without --rate the publishers send as fast as the subscribers receive, keeping at most --window \
                messages in flight (closed loop: measures capacity). With --rate they send that many messages per \
                second in total whatever happens (open loop: measures latency and loss under a fixed load). \
                Reports deliveries per second, publish→receive latency (HdrHistogram), lost messages, and \
                publishes the hub refused with an error (its publish-rate limit, a full queue): refused ones are \
                not expected, and a subscriber sees them as a gap in a publisher's numbering (out of order).
                """
        )

        @Option(help: "WebSocket URL of the hub.")
        var url = "ws://127.0.0.1:8080/ws"
        @Option(
            name: .customLong("subscriber-url"),
            help: "Where the subscribers connect, in turn; repeat for the nodes of a cluster (default: --url).")
        var subscriberURLs: [String] = []
        @Option(name: .customLong("publisher-url"), help: "Where the publishers connect (default: --url).")
        var publisherURL: String?
        @Option(help: "Subscribing clients.")
        var subscribers = 1000
        @Option(help: "Publishing clients.")
        var publishers = 1
        @Option(help: "Bytes of each message's data value.")
        var size = 64
        @Option(help: "Seconds of publishing.")
        var duration = 10.0
        @Option(help: "Total publishes per second (open loop); omit to publish as fast as delivered.")
        var rate: Double?
        @Option(help: "Closed loop: most messages in flight (published, not yet delivered to all).")
        var window = 64
        @Option(help: "Event-loop threads of the load generator.")
        var threads = 1
        @Option(help: "Channel to use.")
        var channel = "bench"
        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func validate() throws {
            guard subscribers > 0, publishers > 0 else { throw ValidationError("--subscribers and --publishers must be at least 1") }
            guard size >= 0, size <= 1 << 20 else { throw ValidationError("--size must be between 0 and 1048576") }
            guard duration > 0 else { throw ValidationError("--duration must be positive") }
            guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
            if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        }

        func run() async throws {
            var configuration = FanoutBenchmark.Configuration(target: try LoadTarget(url: publisherURL ?? url))
            configuration.subscriberTargets = try subscriberURLs.map { try LoadTarget(url: $0) }
            configuration.subscribers = subscribers
            configuration.publishers = publishers
            configuration.payloadBytes = size
            configuration.duration = .milliseconds(Int64(duration * 1000))
            configuration.rate = rate
            configuration.window = window
            configuration.threads = threads
            configuration.channel = channel
            let benchmark = FanoutBenchmark(configuration: configuration)
            let result: FanoutBenchmark.Result
            do {
                result = try await benchmark.run { progress in
                    let line = String(
                        format: "\r[%4.0fs] deliveries/s %10.0f  published %9d  delivered %11d",
                        progress.elapsedSeconds, progress.deliveriesPerSecond, progress.published, progress.delivered
                    )
                    FileHandle.standardError.write(Data(line.utf8))
                }
                FileHandle.standardError.write(Data("\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("\nswitchboard bench: \(error)\n".utf8))
                throw ExitCode(1)
            }
            try Bench.report(result, json: json) { Self.table(result) }
            if result.lost > 0 || result.closedSubscribers > 0 { throw ExitCode(3) }
        }

        static func table(_ r: FanoutBenchmark.Result) -> String {
            """
            fan-out     \(r.publishers) → \(r.subscribers) subscribers, \(r.payloadBytes) B
            duration    \(String(format: "%.2f", r.durationSeconds)) s
            published   \(r.published)
            deliveries  \(r.deliveries) of \(r.expectedDeliveries) expected
            rate        \(String(format: "%.0f", r.deliveriesPerSecond)) deliveries/s
            \(Bench.latencyLine(r.latencyMicroseconds))
            lost        \(r.lost)   refused \(r.refused)   out of order \(r.outOfOrder)   subscribers closed \(r.closedSubscribers)
            """
        }
    }

    /// Many connections that do nothing: connect rate and memory per connection.
    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Idle: open N connections, hold them, report connect rate and server memory per connection.",
            discussion:
                "With --server-pid the server's resident memory (VmRSS) is read before and after, giving bytes per idle connection. Beyond ~28000 connections use several --source addresses (127.0.0.2, 127.0.0.3, …)."
        )

        @Option(help: "WebSocket URL of the hub.")
        var url = "ws://127.0.0.1:8080/ws"
        @Option(help: "Connections to open.")
        var connections = 10_000
        @Option(help: "Connections opened at once.")
        var concurrency = 256
        @Option(help: "Event-loop threads of the load generator.")
        var threads = 1
        @Option(help: "Seconds to hold the connections before measuring.")
        var hold = 2.0
        @Option(help: "The server's process id, to measure its memory per connection.")
        var serverPID: Int32?
        @Option(help: "Local source address (repeatable) to spread connections over.")
        var source: [String] = []
        @Option(help: "Tries per connection: a failed connect is tried again after 500 ms, up to this many times in all.")
        var attempts = 3
        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func run() async throws {
            var configuration = IdleBenchmark.Configuration(target: try LoadTarget(url: url))
            configuration.attempts = max(1, attempts)
            configuration.connections = connections
            configuration.concurrency = max(1, concurrency)
            configuration.threads = max(1, threads)
            configuration.hold = .milliseconds(Int64(hold * 1000))
            configuration.serverPID = serverPID
            configuration.sourceAddresses = source
            let result = try await IdleBenchmark(configuration: configuration).run { tried, failed, failure in
                let held = "\rheld \(tried - failed) of \(tried) tried"
                FileHandle.standardError.write(Data("\(held)\(failure.map { ", \(failed) failed (last failure: \($0))" } ?? "")".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            try Bench.report(result, json: json) {
                var lines = [
                    "idle        \(result.connections) connections held, \(result.failed) failed (\(result.retried) opened on a later try)",
                    "connect     \(String(format: "%.0f", result.connectsPerSecond)) connections/s (\(String(format: "%.2f", result.connectSeconds)) s)",
                ]
                if let failure = result.lastFailure { lines.append("failure     \(failure)") }
                if let perConnection = result.serverBytesPerConnection, let before = result.serverRSSBeforeBytes,
                    let after = result.serverRSSAfterBytes
                {
                    lines.append(
                        "server RSS  \(before / 1024) KiB → \(after / 1024) KiB: \(String(format: "%.0f", perConnection)) bytes per connection")
                }
                return lines.joined(separator: "\n")
            }
            if result.failed > 0 { throw ExitCode(3) }
        }
    }

    /// How fast a resuming client gets what it missed.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay: publish N messages to a channel with history, then time clients that resume with since.",
            discussion:
                "Start the server with --history-size of at least --messages (clustered nodes: the same on every node). Reports the publish rate while filling the history, and the median over the rounds of subscribe → subscribed and subscribe → the last replayed message. With --replay-url the resuming clients connect to another node."
        )

        @Option(help: "WebSocket URL the messages are published to.")
        var url = "ws://127.0.0.1:8080/ws"
        @Option(help: "WebSocket URL the resuming clients connect to (default: --url).")
        var replayURL: String?
        @Option(help: "Channel (it must keep history).")
        var channel = "bench-replay"
        @Option(help: "Messages published, then replayed.")
        var messages = 10_000
        @Option(help: "Bytes of each message's data.")
        var size = 64
        @Option(help: "Resuming clients, one after the other.")
        var rounds = 5
        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func run() async throws {
            var configuration = ReplayBenchmark.Configuration(target: try LoadTarget(url: url), replayTarget: try LoadTarget(url: replayURL ?? url))
            configuration.channel = channel
            configuration.messages = max(1, messages)
            configuration.payloadBytes = max(2, size)
            configuration.rounds = max(1, rounds)
            let result = try await ReplayBenchmark(configuration: configuration).run()
            try Bench.report(result, json: json) {
                [
                    "history     \(result.messages) messages of \(size) B published at \(String(format: "%.0f", result.publishesPerSecond))/s",
                    "replay      \(result.rounds) rounds, median: reply \(String(format: "%.2f", result.replyMilliseconds)) ms, all \(result.messages) in \(String(format: "%.1f", result.replayMilliseconds)) ms = \(String(format: "%.0f", result.replayedPerSecond)) messages/s",
                    "complete    \(result.complete ? "yes: every round recovered, every message once in order" : "NO")",
                ].joined(separator: "\n")
            }
            if !result.complete { throw ExitCode(3) }
        }
    }

    /// Round trips against an echo route.
    struct Echo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Echo: N connections × K messages in flight against an echo route.",
            discussion: """
                Start the server with --echo-route /echo (peers: any endpoint that echoes text). Each connection keeps \
                --in-flight messages outstanding and sends one more per echo. Reports messages per second, round-trip \
                latency (HdrHistogram) and, with --server-pid, messages per server CPU-second (from /proc/PID/stat).
                """
        )

        @Option(help: "WebSocket URL of the echo endpoint.")
        var url = "ws://127.0.0.1:8080/echo"
        @Option(help: "Connections.")
        var connections = 50
        @Option(help: "Messages each connection keeps in flight.")
        var inFlight = 8
        @Option(help: "Bytes per message.")
        var size = 64
        @Option(help: "Seconds of load.")
        var duration = 5.0
        @Option(help: "Event-loop threads of the load generator.")
        var threads = 1
        @Option(help: "The server's process id, to report messages per server CPU-second.")
        var serverPID: Int32?
        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func validate() throws {
            guard connections > 0, inFlight > 0, size >= 0, duration > 0, threads > 0 else {
                throw ValidationError("--connections, --in-flight, --duration and --threads must be positive; --size at least 0")
            }
        }

        func run() async throws {
            var configuration = EchoBenchmark.Configuration(target: try LoadTarget(url: url))
            configuration.connections = connections
            configuration.inFlight = inFlight
            configuration.payloadBytes = size
            configuration.duration = .milliseconds(Int64(duration * 1000))
            configuration.threads = threads
            configuration.serverPID = serverPID
            let result: EchoBenchmark.Result
            do {
                result = try await EchoBenchmark(configuration: configuration).run { progress in
                    let line = String(
                        format: "\r[%4.0fs] messages/s %10.0f  echoed %11d", progress.elapsedSeconds, progress.messagesPerSecond, progress.messages)
                    FileHandle.standardError.write(Data(line.utf8))
                }
                FileHandle.standardError.write(Data("\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("\nswitchboard bench: \(error)\n".utf8))
                throw ExitCode(1)
            }
            try Bench.report(result, json: json) {
                var lines = [
                    "echo        \(result.connections) connections × \(result.inFlight) in flight, \(result.payloadBytes) B",
                    "rate        \(String(format: "%.0f", result.messagesPerSecond)) messages/s over \(String(format: "%.2f", result.durationSeconds)) s",
                ]
                if let cpu = result.serverCPUSeconds, let perCPU = result.messagesPerServerCPUSecond {
                    lines.append("server CPU  \(String(format: "%.2f", cpu)) s: \(String(format: "%.0f", perCPU)) messages per server CPU-second")
                }
                lines.append(Bench.latencyLine(result.latencyMicroseconds))
                lines.append("errors      \(result.mismatched) wrong echoes, \(result.closedConnections) connections closed")
                return lines.joined(separator: "\n")
            }
            if result.mismatched > 0 || result.closedConnections > 0 { throw ExitCode(3) }
        }
    }

    /// Clients that come and go.
    struct Churn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Churn: W workers looping connect → subscribe → close.",
            discussion:
                "Each worker opens a connection, waits for the welcome, subscribes, waits for subscribed, closes with 1000 and starts over. Reports cycles per second, connect→subscribed latency and failed cycles."
        )

        @Option(help: "WebSocket URL of the hub.")
        var url = "ws://127.0.0.1:8080/ws"
        @Option(help: "Concurrent connect/subscribe/close loops.")
        var workers = 32
        @Option(help: "Seconds of churn.")
        var duration = 5.0
        @Option(help: "Event-loop threads of the load generator.")
        var threads = 1
        @Option(help: "Channel to subscribe to.")
        var channel = "churn"
        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func validate() throws {
            guard workers > 0, duration > 0, threads > 0 else { throw ValidationError("--workers, --duration and --threads must be positive") }
        }

        func run() async throws {
            var configuration = ChurnBenchmark.Configuration(target: try LoadTarget(url: url))
            configuration.workers = workers
            configuration.duration = .milliseconds(Int64(duration * 1000))
            configuration.threads = threads
            configuration.channel = channel
            let result = try await ChurnBenchmark(configuration: configuration).run { elapsed, cycles in
                FileHandle.standardError.write(Data(String(format: "\r[%4.0fs] cycles %9d", elapsed, cycles).utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            try Bench.report(result, json: json) {
                [
                    "churn       \(result.workers) workers: connect → welcome → subscribe → subscribed → close",
                    "rate        \(String(format: "%.0f", result.cyclesPerSecond)) cycles/s (\(result.cycles) in \(String(format: "%.2f", result.durationSeconds)) s)",
                    Bench.latencyLine(result.latencyMicroseconds),
                    "failures    \(result.failures)",
                ].joined(separator: "\n")
            }
            if result.failures > 0 { throw ExitCode(3) }
        }
    }
}
