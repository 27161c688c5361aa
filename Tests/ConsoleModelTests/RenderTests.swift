import ConsoleModel
import SwitchboardCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct RenderTests {
    func state(_ configure: (inout ViewState) -> Void = { _ in }) -> ViewState {
        var s = ViewState()
        s.now = fixedNow
        configure(&s)
        return s
    }

    @Test(arguments: [(80, 24), (120, 40), (40, 10), (250, 60), (20, 5), (60, 14), (100, 30), (33, 7)])
    func everyRowIsExactlyTheWidthOfTheTerminal(cols: Int, rows: Int) {
        for snapshot in [makeSnapshot(), nil, makeSnapshot(clients: 0)] {
            for ascii in [false, true] {
                let g = renderDashboard(snapshot, state { $0.ascii = ascii }, rows: rows, cols: cols)
                #expect(g.rows == rows && g.cols == cols)
                #expect(g.lines.count == rows)
                for line in g.lines { #expect(width(line) == cols, "\(cols)x\(rows): \(line)") }
            }
        }
    }

    @Test(arguments: [(80, 24), (120, 40), (40, 10), (250, 60)])
    func headerShowsConnectionsAndAClientRowAppears(cols: Int, rows: Int) {
        let g = renderDashboard(makeSnapshot(clients: 30), state(), rows: rows, cols: cols)
        #expect(g.lines[0].contains("30 conns"))
        #expect(g.lines[0].contains("switchboard"))
        #expect(!g.rows(containing: " c1 ").isEmpty)
        #expect(g.lines.last!.contains("quit"))
    }

    @Test func eightyByTwentyFourShowsEveryPane() {
        let g = renderDashboard(makeSnapshot(), state(), rows: 24, cols: 80)
        let text = g.lines.joined(separator: "\n")
        for word in ["Connections", "Actors", "Channels", "Events", "msgs in", "msgs out", "conns", "30 conns", "60 subs", "mbox 42", "ok"] {
            #expect(text.contains(word), "\(word)")
        }
        #expect(text.contains("rows 1–"))
        #expect(text.contains("of 30"))
        // The newest event is the last line of the log, just above the status line; codes show.
        #expect(g.lines[22].contains("broadcast"))
        #expect(text.contains("code 4008"))
    }

    @Test func channelsShowTheirHistoryAndRecoveriesAreCounted() {
        var snapshot = makeSnapshot()
        snapshot.channels = [
            ChannelRow(name: "kept", subscribers: 2, messageRate: 0, published: 40, history: 25, epoch: "x7KpQ2aB"),
            ChannelRow(name: "plain", subscribers: 1, messageRate: 0, published: 9),
        ]
        snapshot.totals.recovered = 12
        snapshot.totals.notRecovered = 3
        let g = renderDashboard(snapshot, state(), rows: 50, cols: 200)
        let kept = try! #require(g.rows(containing: "#kept").first)
        #expect(g.lines[kept].contains("25") && g.lines[kept].contains("x7KpQ2aB"))
        let plain = try! #require(g.rows(containing: "#plain").first)
        #expect(g.lines[plain].hasSuffix("-") || g.lines[plain].contains(" - "))
        let text = g.lines.joined(separator: "\n")
        #expect(text.contains("HIST") && text.contains("EPOCH"))
        #expect(text.contains("resumed 12") && text.contains("unrecovered 3"))
    }

    @Test func headerAddsAddressAndUptimeWhenWide() {
        let g = renderDashboard(makeSnapshot(), state(), rows: 40, cols: 120)
        #expect(g.lines[0].contains("up 3m05s"))
        #expect(g.lines[0].contains("1.4MB/s"))
        let wide = renderDashboard(makeSnapshot(), state(), rows: 60, cols: 250)
        #expect(wide.lines[0].contains("ws://127.0.0.1:8080/ws"))
    }

    @Test func headerShowsEachProxysRateP99AndFailuresWhenWide() {
        var snapshot = makeSnapshot()
        var subscribe = ProxyRow(proxy: "subscribe", requests: 900, failures: 7, p99: 3_100, circuitOpen: true)
        subscribe.rate = 12
        snapshot.proxies = [subscribe]
        let wide = renderDashboard(snapshot, state(), rows: 60, cols: 250)
        #expect(wide.lines[0].contains("subscribe 12/s p99 3.1ms fail 7 OPEN"), "\(wide.lines[0])")
        let narrow = renderDashboard(snapshot, state(), rows: 40, cols: 80)
        #expect(!narrow.lines[0].contains("subscribe"))
    }

    @Test func wideLayoutAddsLatencyAndAgentColumns() {
        let g = renderDashboard(makeSnapshot(), state(), rows: 60, cols: 250)
        let text = g.lines.joined(separator: "\n")
        #expect(text.contains("latency"))
        #expect(text.contains("AGENT"))
        #expect(text.contains("東京 bot"))
        #expect(text.contains("MAILBOX"))
        for line in g.lines { #expect(width(line) == 250) }
    }

    @Test func minimalLayoutIsHeaderClientsAndStatus() {
        let g = renderDashboard(makeSnapshot(), state(), rows: 10, cols: 40)
        let text = g.lines.joined(separator: "\n")
        #expect(!text.contains("Actors"))
        #expect(!text.contains("Events"))
        #expect(g.lines[1].contains("Connections"))
        #expect(g.lines[3].contains("c1"))
    }

    @Test func selectedRowUsesTheSelectedRole() {
        var s = state()
        s.selection[.clients] = 2
        let g = renderDashboard(makeSnapshot(), s, rows: 24, cols: 80)
        let row = g.rows(containing: " c3 ").first!
        for col in 0..<80 { #expect(g[row, col].role == .selected) }
        let other = g.rows(containing: " c2 ").first!
        #expect(g[other, 3].role != .selected)
    }

    @Test func selectionOutsideTheFirstPageScrollsTheTable() {
        var s = state()
        s.selection[.clients] = 25
        let g = renderDashboard(makeSnapshot(), s, rows: 24, cols: 80)
        let row = g.rows(containing: " c26 ").first
        #expect(row != nil)
        if let row { #expect(g[row, 1].role == .selected) }
        #expect(g.rows(containing: " c1 ").isEmpty)
    }

    @Test func serverWindowIsShownWithItsPosition() {
        var s = state()
        s.selection[.clients] = 40
        s.scroll[.clients] = 40
        let g = renderDashboard(makeSnapshot(clients: 100, offset: 40, limit: 8), s, rows: 24, cols: 80)
        let text = g.lines.joined(separator: "\n")
        #expect(text.contains("rows 41–48 of 100"))
        let row = g.rows(containing: " c41 ").first!
        #expect(g[row, 2].role == .selected)
    }

    @Test func wideCharactersKeepWidthsRight() {
        for (cols, rows) in [(80, 24), (120, 40), (250, 60), (47, 11), (61, 15)] {
            let g = renderDashboard(makeSnapshot(agent: "東京🚀クライアント"), state(), rows: rows, cols: cols)
            if cols >= 80 { #expect(g.lines.joined().contains("東京")) }
            for line in g.lines { #expect(width(line) == cols) }
        }
    }

    @Test func fullMailboxesAreHighlighted() {
        let g = renderDashboard(makeSnapshot(), state(), rows: 24, cols: 80)
        let actor = g.rows(containing: "metrics").first!
        let col = g.lines[actor].distance(from: g.lines[actor].startIndex, to: g.lines[actor].firstRange(of: "metrics")!.lowerBound)
        #expect(g[actor, col].role == .bad)
        let shard = g.rows(containing: "shard-0").first!
        let shardCol = g.lines[shard].distance(from: g.lines[shard].startIndex, to: g.lines[shard].firstRange(of: "shard-0")!.lowerBound)
        #expect(g[shard, shardCol].role == .warn)
    }

    @Test func emptyStateSaysConnecting() {
        for (cols, rows) in [(80, 24), (40, 10), (20, 5)] {
            let g = renderDashboard(nil, state(), rows: rows, cols: cols)
            #expect(g.lines.joined().contains("connecting"))
            #expect(g.lines.count == rows)
        }
    }

    @Test func noClientsSaysSo() {
        let g = renderDashboard(makeSnapshot(clients: 0), state(), rows: 24, cols: 80)
        #expect(g.lines.joined().contains("no clients connected"))
        #expect(g.lines[0].contains("0 conns"))
    }

    @Test func anEmptyDashboardSaysHowToGetAFirstClient() {
        var snapshot = makeSnapshot(clients: 0)
        snapshot.server.address = "ws://127.0.0.1:8080/ws"
        for (cols, rows) in [(80, 24), (120, 40)] {
            let text = renderDashboard(snapshot, state(), rows: rows, cols: cols).lines.joined(separator: "\n")
            #expect(text.contains("http://127.0.0.1:8080/"), "\(cols)x\(rows)")
            #expect(text.contains("python3 -m websockets ws://127.0.0.1:8080/ws"), "\(cols)x\(rows)")
        }
        snapshot.server.address = "wss://example.com:443/live"
        let secure = renderDashboard(snapshot, state(), rows: 40, cols: 120).lines.joined(separator: "\n")
        #expect(secure.contains("https://example.com:443/"))
    }

    @Test(arguments: [(80, 24), (250, 60), (40, 10)])
    func asciiModeDrawsOnlyASCII(cols: Int, rows: Int) {
        var s = state { $0.ascii = true }
        for overlay in [nil, Overlay.help, .detail(clientID: "c3"), .confirm(.quit), .prompt(Prompt(kind: .broadcast, text: "héllo 東京"))] {
            s.overlay = overlay
            let g = renderDashboard(makeSnapshot(agent: "東京 ✓"), s, rows: rows, cols: cols)
            for line in g.lines {
                #expect(line.allSatisfy { $0.isASCII }, "\(line)")
                #expect(line.count == cols)
            }
        }
    }

    @Test func unicodeModeUsesBoxDrawingAndBlocks() {
        let text = renderDashboard(makeSnapshot(), state(), rows: 24, cols: 80).lines.joined()
        #expect(text.contains("─"))
        #expect(text.contains("█"))
    }

    @Test func helpOverlayListsEveryKey() {
        let g = renderDashboard(makeSnapshot(), state { $0.overlay = .help }, rows: 40, cols: 100)
        let text = g.lines.joined(separator: "\n")
        for word in ["Keys", "broadcast", "kick", "filter", "sort", "pause", "quit", ":theme", "Tab", "PgUp", "Enter", "Esc"] {
            #expect(text.contains(word), "\(word)")
        }
    }

    @Test func aClosingClientSaysItIsClosingInItsRowAndDetail() {
        var snapshot = makeSnapshot(clients: 3)
        snapshot.clients.rows[1].state = .closing
        snapshot.clients.rows[1].closeCode = 4002
        snapshot.clients.rows[1].closeReason = "slow consumer"
        snapshot.clients.rows[1].channels = []
        let id = snapshot.clients.rows[1].id
        let g = renderDashboard(snapshot, state(), rows: 24, cols: 120)
        let row = try! #require(g.rows(containing: id + " ").first)
        #expect(g.lines[row].contains("closing 4002 slow consumer"))
        #expect(g.rows(containing: "closing").count == 1)
        let detail = renderDashboard(snapshot, state { $0.overlay = .detail(clientID: id) }, rows: 24, cols: 80)
        #expect(detail.lines.joined(separator: "\n").contains("closing 4002 slow consumer"))
        let open = renderDashboard(snapshot, state { $0.overlay = .detail(clientID: snapshot.clients.rows[0].id) }, rows: 24, cols: 80)
        #expect(open.rows(containing: "state").contains { open.lines[$0].contains("open") })
    }

    @Test func detailOverlayShowsTheClient() {
        let g = renderDashboard(makeSnapshot(), state { $0.overlay = .detail(clientID: "c3") }, rows: 24, cols: 80)
        let text = g.lines.joined(separator: "\n")
        #expect(text.contains("Client c3"))
        #expect(text.contains("東京 bot"))
        #expect(text.contains("#news #東京"))
        for line in g.lines { #expect(width(line) == 80) }
        let gone = renderDashboard(makeSnapshot(), state { $0.overlay = .detail(clientID: "zz") }, rows: 24, cols: 80)
        #expect(gone.lines.joined().contains("no longer in the window on screen"))
    }

    @Test func promptIsOnTheStatusLine() {
        let g = renderDashboard(makeSnapshot(), state { $0.overlay = .prompt(Prompt(kind: .broadcast, text: "#news hi")) }, rows: 24, cols: 80)
        #expect(g.lines[23].contains("broadcast"))
        #expect(g.lines[23].contains("#news hi"))
        #expect(g[23, 0].role == .prompt)
        let command = renderDashboard(makeSnapshot(), state { $0.overlay = .prompt(Prompt(kind: .command, text: "sort rate")) }, rows: 24, cols: 80)
        #expect(command.lines[23].hasPrefix(" :sort rate"))
    }

    @Test func confirmOverlayAsksTheQuestion() {
        let g = renderDashboard(
            makeSnapshot(),
            state {
                $0.overlay = .confirm(.quit)
                $0.local = true
            }, rows: 24, cols: 80)
        #expect(g.lines.joined().contains("stop the server and quit?"))
        let k = renderDashboard(makeSnapshot(), state { $0.overlay = .confirm(.kick(clientID: "c4", reason: "spam")) }, rows: 24, cols: 80)
        #expect(k.lines.joined().contains("kick c4 (spam)?"))
    }

    @Test func statusMessageAndPauseShow() {
        let g = renderDashboard(
            makeSnapshot(),
            state {
                $0.status = "unknown command ':foo'"
                $0.paused = true
            }, rows: 24, cols: 80)
        #expect(g.lines[23].contains("unknown command ':foo'"))
        #expect(g.lines[0].contains("PAUSED"))
    }

    @Test func sortColumnIsMarked() {
        let g = renderDashboard(
            makeSnapshot(),
            state {
                $0.sort = .rate
                $0.descending = true
            }, rows: 24, cols: 80)
        let text = g.lines.joined(separator: "\n")
        #expect(text.contains("RATE▼"))
        #expect(text.contains("sort rate ▼"))
    }

    @Test func dumpSamples() {
        guard getenv("CONSOLE_DUMP") != nil else { return }
        for (cols, rows) in [(80, 24), (120, 40), (40, 10), (250, 60)] {
            let g = renderDashboard(makeSnapshot(agent: "東京🚀 bot"), state { $0.selection[.clients] = 2 }, rows: rows, cols: cols)
            print("=== \(cols)x\(rows)")
            for line in g.lines { print("|" + line + "|") }
        }
        var s = state { $0.overlay = .detail(clientID: "c3") }
        print("=== detail")
        for line in renderDashboard(makeSnapshot(), s, rows: 24, cols: 80).lines { print("|" + line + "|") }
        s.overlay = .help
        print("=== help")
        for line in renderDashboard(makeSnapshot(), s, rows: 30, cols: 80).lines { print("|" + line + "|") }
        s.overlay = nil
        s.ascii = true
        print("=== ascii")
        for line in renderDashboard(makeSnapshot(), s, rows: 24, cols: 80).lines { print("|" + line + "|") }
    }

    @Test func renderIsPure() {
        let a = renderDashboard(makeSnapshot(), state(), rows: 30, cols: 100)
        let b = renderDashboard(makeSnapshot(), state(), rows: 30, cols: 100)
        #expect(a.lines == b.lines)
    }
}

/// The cluster's dashboard: a nodes pane, a NODE column, and a partial window said so.
@Suite struct ClusterRenderTests {
    private func clustered() -> DashboardSnapshot {
        var snapshot = makeSnapshot(clients: 6)
        for index in snapshot.clients.rows.indices { snapshot.clients.rows[index].node = index % 2 == 0 ? "node-a" : "node-b" }
        snapshot.nodes = [
            NodeRow(
                name: "node-a", state: "alive", heartbeatAgeMilliseconds: 300, address: "ws://127.0.0.1:8081/ws", connections: 3, mailboxDepth: 0,
                messagesInPerSecond: 12, messagesOutPerSecond: 340, redisRoundTripMilliseconds: 0.4, redisUp: true,
                redisServer: "10.0.0.7:6380 master, 1 replica (lag 0 s)"),
            NodeRow(
                name: "node-b", state: "dead", heartbeatAgeMilliseconds: 6200, address: "ws://127.0.0.1:8082/ws", connections: 3, mailboxDepth: 0,
                messagesInPerSecond: 0, messagesOutPerSecond: 0, redisRoundTripMilliseconds: nil, redisUp: true),
        ]
        snapshot.clients.partial = true
        snapshot.clients.missing = ["node-c"]
        return snapshot
    }

    @Test func theNodesPaneListsEveryNodeAndMarksTheDeadOne() {
        let grid = renderDashboard(clustered(), ViewState(), rows: 40, cols: 120)
        let text = grid.lines.joined(separator: "\n")
        #expect(text.contains("Nodes") && text.contains("1 alive, 1 dead"))
        let dead = grid.lines.firstIndex { $0.contains("node-b") && $0.contains("dead") }
        #expect(dead != nil)
        if let dead {
            let column = (0..<grid.cols).first { grid[dead, $0].text == "n" && grid.line(dead).dropFirst($0).hasPrefix("node-b") } ?? 0
            #expect(grid[dead, column].role == .bad)
        }
        #expect(text.contains("NODE") && text.contains("partial: no answer from node-c"))
        for line in grid.lines { #expect(Grid.displayWidth(of: line) == 120) }
        // Which Redis each node talks to, on a wide enough terminal.
        let wide = renderDashboard(clustered(), ViewState(), rows: 40, cols: 200).lines.joined(separator: "\n")
        #expect(wide.contains("REDIS SERVER") && wide.contains("10.0.0.7:6380 master, 1 replica (lag 0 s)"))
    }

    @Test func theClientTableLosesTheNodesPaneRowsAndPagingKnowsIt() {
        let alone = ViewState.clientTableRows(rows: 40, cols: 120)
        #expect(ViewState.clientTableRows(rows: 40, cols: 120, nodes: 2) == alone - 4)
        #expect(ViewState.clientTableRows(rows: 40, cols: 120, nodes: 9) == alone - 7)
        // A Redis Cluster's masters take a few rows more, while the client table keeps its own.
        #expect(ViewState.clientTableRows(rows: 40, cols: 120, nodes: 1, shards: 3) == alone - 6)
        #expect(ViewState.clientTableRows(rows: 40, cols: 120, nodes: 3, shards: 9) == alone - 9)
    }

    /// Nodes on a Redis Cluster of three masters, each node listing them.
    private func onARedisCluster(nodes names: [String], subscriberDown: String? = nil) -> DashboardSnapshot {
        var snapshot = makeSnapshot(clients: 2)
        snapshot.nodes = names.map { name in
            NodeRow(
                name: name, state: "alive", heartbeatAgeMilliseconds: 300, address: "ws://127.0.0.1:8081/ws", connections: 1, mailboxDepth: 0,
                messagesInPerSecond: 0, messagesOutPerSecond: 0, redisRoundTripMilliseconds: 0.5, redisUp: true, redisServer: "10.0.0.7:7001",
                redisShards: (1...3).map { index in
                    ShardRow(
                        address: "10.0.0.7:700\(index)", role: "master", roundTripMicroseconds: 300 + index, pending: index - 1, up: true,
                        subscriberUp: "\(name) 10.0.0.7:700\(index)" != subscriberDown)
                })
        }
        return snapshot
    }

    @Test func aNodeOnARedisClusterHasARowPerMasterUnderItsOwn() throws {
        let grid = renderDashboard(onARedisCluster(nodes: ["node-a"], subscriberDown: "node-a 10.0.0.7:7002"), ViewState(), rows: 40, cols: 120)
        let node = try #require(grid.lines.firstIndex { $0.contains("node-a") })
        #expect(grid.lines[node + 1].contains("└ 10.0.0.7:7001  master  rtt 301µs  pending 0  subscriber up"))
        #expect(grid.lines[node + 2].contains("└ 10.0.0.7:7002  master  rtt 302µs  pending 1  subscriber down"))
        #expect(grid.lines[node + 3].contains("└ 10.0.0.7:7003"))
        let line = grid.line(node + 2)
        let down = try #require((0..<grid.cols).first { line.dropFirst($0).hasPrefix("subscriber down") })
        #expect(grid[node + 2, down].role == .bad)
        for line in grid.lines { #expect(Grid.displayWidth(of: line) == 120) }
    }

    @Test func whenEveryMasterDoesNotFitEveryNodeStillDoes() throws {
        let grid = renderDashboard(onARedisCluster(nodes: ["node-a", "node-b", "node-c"]), ViewState(), rows: 40, cols: 120)
        let text = grid.lines.joined(separator: "\n")
        // Seven lines for three nodes: every node, and the first one's masters (a node's all or none).
        #expect(text.contains("node-a") && text.contains("node-b") && text.contains("node-c"))
        #expect(grid.lines.filter { $0.contains("└ 10.0.0.7:700") }.count == 3)
        let a = try #require(grid.lines.firstIndex { $0.contains("node-a") })
        #expect(grid.lines[a + 3].contains("└ 10.0.0.7:7003") && grid.lines[a + 4].contains("node-b"))
    }
}
