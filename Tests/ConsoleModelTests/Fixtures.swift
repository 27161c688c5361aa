import ConsoleModel
import SwitchboardCore

/// A busy hub at 1_700_000_000 seconds: `count` clients (the window is rows `offset..<offset+limit`).
func makeSnapshot(clients count: Int = 30, offset: Int = 0, limit: Int = 50, agent: String = "Mozilla/5.0") -> DashboardSnapshot {
    let now = 1_700_000_000.0
    var totals = Totals()
    totals.connections = count
    totals.subscriptions = count * 2
    totals.channels = 3
    totals.mailboxDepth = 42
    totals.messagesIn = 123_456
    totals.messagesOut = 3_456_789
    var all: [ClientRow] = []
    for i in 0..<count {
        let agentText: String = i == 2 ? "東京 bot" : agent
        let channels: [String] = i % 2 == 0 ? ["news", "東京"] : ["chat"]
        let connected: Double = now - Double(60 * i + 5)
        let active: Double = now - Double(i)
        let mailbox = MailboxCounts(depth: i == 5 ? 900 : i, peak: i * 2, enqueued: i * 10, dequeued: i * 9)
        let row = ClientRow(
            id: "c\(i + 1)", remoteAddress: "10.0.0.\(i % 250):\(50_000 + i)", userAgent: agentText,
            connectedAt: connected, lastActivity: active, channels: channels,
            messagesIn: i * 100, messagesOut: i * 1500, bytesIn: i * 4096, bytesOut: i * 65536, rate: Double(i) * 1.5,
            mailbox: mailbox, mailboxCapacity: 1000)
        all.append(row)
    }
    let window = ClientQuery(offset: offset, limit: limit).window(all)
    var series = Series()
    series.messagesIn = (0..<120).map { Double($0 % 17) * 10 }
    series.messagesOut = (0..<120).map { Double($0 % 23) * 100 }
    series.connections = (0..<120).map { Double(min($0, count)) }
    return DashboardSnapshot(
        server: ServerInfo(version: "0.9.0", address: "ws://127.0.0.1:8080/ws", uptimeSeconds: 185),
        totals: totals,
        rates1s: Rates(messagesIn: 1234, messagesOut: 56_789, bytesIn: 1_500_000, bytesOut: 3_400_000),
        series: series,
        latency: LatencyStats(count: 100, p50: 120, p90: 800, p99: 2300, p999: 9000, max: 15000),
        clients: window,
        channels: [
            ChannelRow(name: "news", subscribers: 15, messageRate: 12.5, published: 1200),
            ChannelRow(name: "chat", subscribers: 15, messageRate: 0, published: 12),
            ChannelRow(name: "prices", subscribers: 0, messageRate: 3000, published: 2_000_000),
        ],
        actors: [
            ActorRow(
                name: "hub", kind: .hubShard, depth: 12, peak: 80, capacity: 10_000, processedPerSecond: 5000, processed: 1, dropped: 0, restarts: 0),
            ActorRow(
                name: "metrics", kind: .metrics, depth: 850, peak: 990, capacity: 1000, processedPerSecond: 20, processed: 2, dropped: 3,
                restarts: 1),
            ActorRow(
                name: "shard-0", kind: .hubShard, depth: 600, peak: 700, capacity: 1000, processedPerSecond: 10, processed: 2, dropped: 0, restarts: 0
            ),
        ],
        events: [
            HubEvent(sequence: 1, time: now - 30, kind: .connect, client: "c1", detail: "10.0.0.1:50000"),
            HubEvent(sequence: 2, time: now - 20, kind: .disconnect, client: "c9", code: 1001, detail: "going away"),
            HubEvent(sequence: 3, time: now - 10, kind: .kick, client: "c7", code: 4000, detail: "kicked by operator"),
            HubEvent(sequence: 4, time: now - 5, kind: .slowConsumer, client: "c8", code: 4008, detail: "mailbox full"),
            HubEvent(sequence: 5, time: now - 1, kind: .broadcast, detail: "#news hello"),
        ])
}

let fixedNow = 1_700_000_000.0

func width(_ line: String) -> Int {
    line.reduce(0) { $0 + Grid.displayWidth(of: $1) }
}

extension Grid {
    /// Rows whose text contains `text`.
    func rows(containing text: String) -> [Int] {
        lines.indices.filter { lines[$0].contains(text) }
    }
}
