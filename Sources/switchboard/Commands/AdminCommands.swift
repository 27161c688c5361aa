import ArgumentParser
import Foundation
import SwitchboardCore

/// Options every CLI verb shares: which server, which token, which output.
struct AdminOptions: ParsableArguments {
    @Option(help: "Admin URL of the server.")
    var server = "http://127.0.0.1:8080"
    @Option(help: "Admin token (default: SWITCHBOARD_ADMIN_TOKEN, then the server's state file for that port).")
    var token: String?
    @Flag(help: "Print JSON (trace: one object per line) instead of a table or readable lines.")
    var json = false

    func client() throws -> AdminClient {
        try AdminClient(server: server, token: token)
    }
}

/// Runs a verb, printing failures as one line with a non-zero exit.
func runVerb(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as AdminClient.Failure {
        FileHandle.standardError.write(Data("switchboard: \(failure.description)\n".utf8))
        throw ExitCode(1)
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func printJSONObject(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}

/// Left-aligned columns, widths from the content.
func table(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

func humanDuration(_ seconds: Double) -> String {
    let s = Int(max(0, seconds))
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(s % 60)s" }
    if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
    return "\(s / 86400)d\((s % 86400) / 3600)h"
}

func humanCount(_ value: Double) -> String {
    switch value {
    case 1e9...: String(format: "%.1fG", value / 1e9)
    case 1e6...: String(format: "%.1fM", value / 1e6)
    case 1e4...: String(format: "%.1fk", value / 1e3)
    default: String(format: value == value.rounded() ? "%.0f" : "%.1f", value)
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a running server's figures: connections, rates, latency, mailboxes.")
    @OptionGroup var admin: AdminOptions

    func run() async throws {
        try await runVerb {
            let snapshot = try await admin.client().get("/api/stats", query: ["limit": "0"], as: DashboardSnapshot.self)
            if admin.json { return try printJSON(snapshot) }
            let t = snapshot.totals
            let r1 = snapshot.rates1s
            let r10 = snapshot.rates10s
            print(
                """
                \(snapshot.server.name) \(snapshot.server.version)  \(snapshot.server.address)  up \(humanDuration(snapshot.server.uptimeSeconds))  health \(snapshot.server.health)
                connections    \(t.connections)   subscriptions \(t.subscriptions)   channels \(t.channels)
                messages/s     in \(humanCount(r1.messagesIn)) (10s \(humanCount(r10.messagesIn)))   out \(humanCount(r1.messagesOut)) (10s \(humanCount(r10.messagesOut)))
                bytes/s        in \(humanCount(r1.bytesIn))   out \(humanCount(r1.bytesOut))
                totals         published \(t.published)   deliveries \(t.deliveries)   connects \(t.connects)   disconnects \(t.disconnects)
                closes         kicks \(t.kicks)   slow consumers \(t.slowConsumerCloses)   errors \(t.errors)   restarts \(t.restarts)
                mailboxes      \(t.mailboxDepth) queued
                latency        publish→write p50 \(snapshot.latency.p50) µs  p99 \(snapshot.latency.p99) µs  p99.9 \(snapshot.latency.p999) µs  (\(snapshot.latency.count) samples)
                """)
        }
    }
}

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List connected clients (a window: sort, filter, offset, limit).")
    @OptionGroup var admin: AdminOptions
    @Option(help: "Only subscribers of this channel.") var channel: String?
    @Option(help: "Sort by: \(ClientQuery.SortKey.allCases.map(\.rawValue).joined(separator: ", ")).") var sort = "id"
    @Flag(help: "Sort descending.") var desc = false
    @Option(help: "Substring of id, address, user agent or channel.") var filter = ""
    @Option(help: "Rows to skip.") var offset = 0
    @Option(help: "Rows to show.") var limit = 50

    func run() async throws {
        try await runVerb {
            var query = ["sort": sort, "order": desc ? "desc" : "asc", "filter": filter, "offset": "\(offset)", "limit": "\(limit)"]
            if let channel { query["channel"] = channel }
            let window = try await admin.client().get("/api/clients", query: query, as: ClientWindow.self)
            if admin.json { return try printJSON(window) }
            let now = Date().timeIntervalSince1970
            print(
                table(
                    ["ID", "REMOTE", "CHANNELS", "IN", "OUT", "RATE", "MAILBOX", "AGE", "IDLE"],
                    window.rows.map { row in
                        [
                            row.id, row.remoteAddress, row.channels.joined(separator: ","), "\(row.messagesIn)", "\(row.messagesOut)",
                            humanCount(row.rate), "\(row.mailbox.depth)/\(row.mailboxCapacity)", humanDuration(now - row.connectedAt),
                            humanDuration(now - row.lastActivity),
                        ]
                    }
                ))
            print("\(window.rows.count) of \(window.total) clients (offset \(window.offset))")
        }
    }
}

struct Channels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List channels with subscribers.")
    @OptionGroup var admin: AdminOptions

    func run() async throws {
        try await runVerb {
            let rows = try await admin.client().get("/api/channels", as: [ChannelRow].self)
            if admin.json { return try printJSON(rows) }
            print(
                table(
                    ["CHANNEL", "SUBSCRIBERS", "MSGS/S", "PUBLISHED"],
                    rows.map { [$0.name, "\($0.subscribers)", humanCount($0.messageRate), "\($0.published)"] }))
        }
    }
}

struct Actors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List actors and their mailboxes, deepest first.")
    @OptionGroup var admin: AdminOptions
    @Option(help: "Rows to show.") var limit = 50

    func run() async throws {
        try await runVerb {
            let rows = try await admin.client().get("/api/actors", query: ["limit": "\(limit)"], as: [ActorRow].self)
            if admin.json { return try printJSON(rows) }
            print(
                table(
                    ["ACTOR", "KIND", "DEPTH", "PEAK", "CAPACITY", "PROCESSED/S", "DROPPED", "RESTARTS"],
                    rows.map {
                        [
                            $0.name, $0.kind.rawValue, "\($0.depth)", "\($0.peak)", "\($0.capacity)", humanCount($0.processedPerSecond),
                            "\($0.dropped)",
                            "\($0.restarts)",
                        ]
                    }
                ))
        }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the event log: connects, disconnects with codes, kicks, slow consumers, restarts.")
    @OptionGroup var admin: AdminOptions
    @Option(help: "Only events after this sequence number.") var since: UInt64 = 0
    @Option(help: "Most events to show (the newest).") var limit = 100

    func run() async throws {
        try await runVerb {
            let events = try await admin.client().get("/api/events", query: ["since": "\(since)", "limit": "\(limit)"], as: [HubEvent].self)
            if admin.json { return try printJSON(events) }
            let formatter = ISO8601DateFormatter()
            print(
                table(
                    ["SEQ", "TIME", "EVENT", "CLIENT", "CODE", "DETAIL"],
                    events.map {
                        [
                            String($0.sequence), formatter.string(from: Date(timeIntervalSince1970: $0.time)), $0.kind.rawValue, $0.client ?? "-",
                            $0.code.map(String.init) ?? "-", $0.detail,
                        ]
                    }
                ))
        }
    }
}

struct Broadcast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send TEXT to every client (or to one channel's subscribers) as the operator.",
        discussion:
            "Everyone gets {\"type\":\"broadcast\",\"data\":\"TEXT\",\"from\":\"operator\"}; with --channel, subscribers get a channel message from \"operator\"."
    )
    @OptionGroup var admin: AdminOptions
    @Option(help: "Only this channel's subscribers.") var channel: String?
    @Argument(help: "The text to send.") var text: String

    func run() async throws {
        try await runVerb {
            var body = "{\"data\":\(JSONText.quoted(text))"
            if let channel { body += ",\"channel\":\(JSONText.quoted(channel))" }
            let answer = try await admin.client().post("/api/broadcast", body: body + "}")
            if admin.json { return printJSONObject(answer) }
            print("reached \(answer["reached"] as? Int ?? 0) clients")
        }
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish a JSON value to a channel, as a backend would.")
    @OptionGroup var admin: AdminOptions
    @Argument(help: "The channel.") var channel: String
    @Argument(help: "The message data: any JSON value, e.g. '{\"price\":3}' or '\"text\"'.") var data: String

    func validate() throws {
        guard ChannelName.isValid(channel) else { throw ValidationError("channel names are 1-128 bytes of A-Z a-z 0-9 _ . : @ / -") }
        let bytes = Array(data.utf8)
        let valid = bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            return (try? scanner.scanDocument()) != nil
        }
        guard valid else { throw ValidationError("the data must be one JSON value; quote text as '\"text\"'") }
    }

    func run() async throws {
        try await runVerb {
            let answer = try await admin.client().post("/api/publish", body: "{\"channel\":\(JSONText.quoted(channel)),\"data\":\(data)}")
            if admin.json { return printJSONObject(answer) }
            print("published to \(channel) as seq \(answer["seq"] as? Int ?? 0), reached \(answer["reached"] as? Int ?? 0) subscribers")
        }
    }
}

struct Kick: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Disconnect a client (close 4000 with a reason), every connection of a user, a channel's subscribers, or everyone.",
        discussion: """
            With --reconnect clients are closed with 4200 "reconnect", the advice to come back (e.g. before a restart).
            --user closes every connection of that user (its token's sub, or its Pusher signed-in user) on every node.
            """
    )
    @OptionGroup var admin: AdminOptions
    @Argument(help: "The client id.") var id: String?
    @Option(help: "Reason sent in the close frame.") var reason: String?
    @Flag(help: "Kick every client.") var all = false
    @Option(help: "Kick every connection of this user, on every node.") var user: String?
    @Option(help: "Kick every subscriber of this channel.") var channel: String?
    @Flag(help: "Close with 4200 \"reconnect\" instead of 4000.") var reconnect = false

    func validate() throws {
        let targets = [id != nil, all, user != nil, channel != nil].filter { $0 }.count
        guard targets == 1 else { throw ValidationError("give exactly one of: a client ID, --user, --channel, --all") }
        if let user, user.isEmpty { throw ValidationError("--user must name a user") }
    }

    func run() async throws {
        try await runVerb {
            let client = try admin.client()
            let reasonField = reason.map { ",\"reason\":\(JSONText.quoted($0))" } ?? ""
            let answer: [String: Any]
            if let id {
                answer = try await client.post("/api/clients/\(pathSegment(id))/kick", body: "{\"reconnect\":\(reconnect)\(reasonField)}")
            } else if let user {
                answer = try await client.post("/api/users/\(pathSegment(user))/disconnect", body: "{\"reconnect\":\(reconnect)\(reasonField)}")
                if admin.json { return printJSONObject(answer) }
                let missing = (answer["missing"] as? [String]).map { " (no answer from \($0.joined(separator: ", ")))" } ?? ""
                return print("closed \(answer["closed"] as? Int ?? 0) connection(s) of \(user)\(missing)")
            } else if let channel {
                answer = try await client.post(
                    "/api/kick", body: "{\"channel\":\(JSONText.quoted(channel)),\"reconnect\":\(reconnect)\(reasonField)}")
            } else {
                answer = try await client.post("/api/kick", body: "{\"all\":true,\"reconnect\":\(reconnect)\(reasonField)}")
            }
            if admin.json { return printJSONObject(answer) }
            print("kicked \(answer["kicked"] as? Int ?? 0) client(s)")
        }
    }
}

/// `text` as one percent-encoded path segment (a user or client id may hold `/`, `@`, spaces).
func pathSegment(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
