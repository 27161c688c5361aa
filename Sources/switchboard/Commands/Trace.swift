import ArgumentParser
import Foundation
import HTTPTypes
import Logging
import SwitchboardCore
import WSClient

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
            guard var components = URLComponents(url: client.base.appendingPathComponent("admin/trace"), resolvingAgainstBaseURL: false) else {
                throw AdminClient.Failure(description: "not a server URL: \(client.base)")
            }
            components.scheme = components.scheme == "https" ? "wss" : "ws"
            components.queryItems = [URLQueryItem(name: target.kind, value: target.value)]
            var logger = Logger(label: "trace")
            logger.logLevel = .critical
            let headers: HTTPFields = client.token.map { [.authorization: "Bearer \($0)"] } ?? [:]
            let json = admin.json
            do {
                _ = try await WebSocketClient.connect(
                    url: components.string!, configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 24, additionalHeaders: headers),
                    logger: logger
                ) { inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .text(let text) = message else { continue }
                        FileHandle.standardOutput.write(Data(((json ? text : TraceText.line(text)) + "\n").utf8))
                    }
                }
            } catch {
                throw await Self.why(error, client: client, target: target)
            }
        }
    }

    /// Why the stream could not open, asked with a plain GET that answers what the upgrade did
    /// (the WebSocket client does not say): the server's own message, in one line.
    private static func why(_ error: any Error, client: AdminClient, target: TraceTarget) async -> AdminClient.Failure {
        do {
            _ = try await client.get("/admin/trace", query: [target.kind: target.value], as: [String: String].self)
        } catch let failure as AdminClient.Failure {
            if failure.status == 429 || failure.status == 400, let message = failure.message { return AdminClient.Failure(description: message) }
            if failure.status != 426 { return failure }
        } catch {}
        return AdminClient.Failure(description: "the trace stream at \(client.base.absoluteString) failed: \(error)")
    }
}

/// Trace objects as the CLI prints them without `--json`.
enum TraceText {
    /// `04:12:03.123456 node-b c1f@node-b out delivery news #42 87B mailbox 3 412us {"price":10…`
    static func line(_ text: String) -> String {
        guard let message = TraceMessage(json: Array(text.utf8)) else { return text }
        switch message {
        case .started(let trace, let target):
            return "trace \(trace) of \(target.description) started"
        case .skipped(_, let count):
            return "… \(count) lines skipped (over trace-rate, or this reader fell behind)"
        case .ended(let trace, let reason):
            return "trace \(trace) ended: \(reason)"
        case .line(_, let line):
            let time = TraceLine.isoTime(line.time).split(separator: "T").last.map { String($0.dropLast()) } ?? ""
            var parts = [time, line.node, line.client ?? "-", line.direction?.rawValue ?? "-", line.kind.rawValue, line.channel ?? "-"]
            if let seq = line.seq { parts.append("#\(seq)") }
            if let user = line.user { parts.append("user \(user)") }
            if let code = line.code { parts.append("code \(code)") }
            if let bytes = line.bytes { parts.append("\(bytes)B") }
            if let mailbox = line.mailbox { parts.append("mailbox \(mailbox)") }
            if let latency = line.latencyMicros { parts.append("\(latency)us") }
            if let data = line.data { parts.append(data + (line.truncated ? "…" : "")) }
            return parts.joined(separator: " ")
        }
    }
}
