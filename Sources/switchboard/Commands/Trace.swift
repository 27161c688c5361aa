import ArgumentParser
import ConsoleRuntime
import Foundation
import SwitchboardCore

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow one client, user or channel live, until Ctrl-C.",
        discussion: """
            Streams what the server's trace of the target sees (GET /admin/trace, a WebSocket): for a client or a user, every frame in and out (request, reply, delivery with its seq, mailbox depth and publish-to-write latency, ping, pong, close, drop, refused); for a channel, its publishes, subscribes, unsubscribes, presence joins and leaves, drops and messages_lost. Lines over the server's trace-rate are counted in "skipped" lines. With --json, one JSON object per line, as the API sends them.

            Examples:
              switchboard trace --client c1f
              switchboard trace --channel news --json --server http://10.0.0.5:8080 --token $TOKEN
            """)

    @Option(help: "Trace this client (its id, e.g. c1f, or a Pusher socket id).")
    var client: String?
    @Option(help: "Trace every connection of this user.")
    var user: String?
    @Option(help: "Trace this channel (an app's channel is APPID:NAME).")
    var channel: String?
    @OptionGroup var admin: AdminOptions

    func run() async throws {
        try await runVerb {
            var query: [String: String] = [:]
            query["client"] = client
            query["user"] = user
            query["channel"] = channel
            let target: TraceTarget
            do {
                target = try TraceTarget(query: query)
            } catch {
                throw AdminClient.Failure(description: "name one target: --client ID, --user NAME or --channel NAME (\(error))")
            }
            let client = try admin.client()
            let stream = TraceClient(server: client.base.absoluteString, token: try client.requiredToken()).messages(target)
            var started = false
            for await message in stream {
                switch message {
                case .started: started = true
                // Ended before it started: refused (max-traces, a bad target, a wrong token) or unreachable.
                case .ended(_, let reason) where !started: throw AdminClient.Failure(description: reason)
                default: break
                }
                FileHandle.standardOutput.write(Data(((admin.json ? message.json : TraceText.line(message)) + "\n").utf8))
            }
        }
    }
}

/// Trace objects as the CLI prints them without `--json`.
enum TraceText {
    /// `04:12:03.123456 node-b out delivery c1f@node-b #news seq 42 87 B mailbox 3 412 µs {"price":10…`
    static func line(_ message: TraceMessage) -> String {
        switch message {
        case .started(let trace, let target):
            return "trace \(trace) of \(target.description) started"
        case .skipped(_, let count):
            return "… \(count) lines skipped (over trace-rate, or this reader fell behind)"
        case .ended(let trace, let reason):
            return "trace \(trace) ended: \(reason)"
        case .line(_, let line):
            let time = TraceLine.isoTime(line.time).split(separator: "T").last.map { String($0.dropLast()) } ?? ""
            return [time, line.node, line.direction?.rawValue ?? "-", line.kind.rawValue, line.details].joined(separator: " ")
        }
    }
}
