import ConsoleModel
import SwitchboardCore
import Testing

/// The trace pane: keys that open, pause, filter and stop a trace, what it does with the
/// stream's messages, and what it draws.
@Suite struct TracePaneTests {
    let snap = makeSnapshot(clients: 30)

    func press(_ keys: [Key], _ state: inout ViewState) -> [Effect] {
        keys.map { handle($0, state: &state, snapshot: snap) }
    }

    func line(_ n: Int, kind: TraceLine.Kind = .delivery, channel: String = "news") -> TraceMessage {
        .line(
            trace: "t1",
            TraceLine(
                time: fixedNow + Double(n) / 1000, node: "a", kind: kind, direction: .out, client: "c1", channel: channel,
                seq: UInt64(n), bytes: 40 + n, mailbox: 0, latencyMicros: 300, data: "{\"n\":\(n)}"))
    }

    @Test func tOnAClientTracesItAndEscStopsTheTrace() {
        var s = ViewState()
        #expect(press([.down, .character("t")], &s).last == .startTrace(.client("c2")))
        #expect(s.trace?.target == .client("c2"))
        #expect(s.focus == .trace)
        #expect(press([.escape], &s) == [.stopTrace])
        #expect(s.trace == nil && s.focus == .clients)
        #expect(s.status == "trace stopped")
    }

    @Test func tOnAChannelOrInADetailTracesThatOne() {
        var s = ViewState()
        s.focus = .channels
        #expect(press([.character("t")], &s) == [.startTrace(.channel("news"))])
        var detail = ViewState()
        #expect(press([.enter, .character("t")], &detail).last == .startTrace(.client("c1")))
        #expect(detail.overlay == nil)
        var actors = ViewState()
        actors.focus = .actors
        #expect(press([.character("t")], &actors) == [Effect.none])
        #expect(actors.status.contains("select a client or a channel"))
    }

    @Test func traceCommandsNameTheirTarget() {
        var s = ViewState()
        #expect(press([.character(":")] + ":trace user ann".map { Key.character($0) } + [.enter], &s).last == .startTrace(.user("ann")))
        #expect(press([.character(":")] + "trace channel #news".map { Key.character($0) } + [.enter], &s).last == .startTrace(.channel("news")))
        #expect(press([.character(":")] + "trace stop".map { Key.character($0) } + [.enter], &s).last == .stopTrace)
        _ = press([.character(":")] + "trace socket 1".map { Key.character($0) } + [.enter], &s)
        #expect(s.status.hasPrefix("usage: :trace client id"))
        #expect(s.trace == nil)
    }

    @Test func aTraceEndedBeforeItStartedWasRefusedAndSaysWhy() {
        var s = ViewState()
        s.openTrace(.client("c9"))
        s.receive(.ended(trace: "", reason: "too many traces running on the server (max-traces 16)"))
        #expect(s.trace == nil)
        #expect(s.status == "trace client c9 refused: too many traces running on the server (max-traces 16)")
    }

    @Test func pauseHoldsTheLinesOnScreenWhileMoreArrive() {
        var s = ViewState()
        s.openTrace(.client("c1"))
        s.receive(.started(trace: "t1", target: .client("c1")))
        for n in 1...3 { s.receive(line(n)) }
        _ = press([.character("p")], &s)
        for n in 4...6 { s.receive(line(n)) }
        #expect(s.trace?.shown.map(\.seq) == [1, 2, 3])
        #expect(s.trace?.received == 6)
        _ = press([.character("p")], &s)
        #expect(s.trace?.shown.count == 6)
        // `p` in the trace pane pauses the trace, not the dashboard.
        #expect(!s.paused)
    }

    @Test func theFilterKeepsMatchingLinesOnly() {
        var s = ViewState()
        s.openTrace(.client("c1"))
        s.receive(.started(trace: "t1", target: .client("c1")))
        s.receive(line(1, channel: "news"))
        s.receive(line(2, kind: .subscribe, channel: "chat"))
        _ = press([.character("/")] + "CHAT".map { Key.character($0) } + [.enter], &s)
        #expect(s.trace?.filter == "CHAT")
        #expect(s.trace?.shown.map(\.seq) == [2])
    }

    @Test func thePaneKeepsTheNewestLinesOnly() {
        var pane = TracePane(target: .channel("news"))
        for n in 0..<(TracePane.capacity * 2) { pane.receive(line(n)) }
        #expect(pane.received == TracePane.capacity * 2)
        #expect(pane.lines.count <= TracePane.capacity + TracePane.capacity / 4)
        #expect(pane.lines.last?.seq == UInt64(TracePane.capacity * 2 - 1))
    }

    @Test(arguments: [(80, 24), (120, 40), (50, 12)])
    func thePaneShowsTheTargetItsStateAndItsLines(cols: Int, rows: Int) {
        var s = ViewState()
        s.now = fixedNow
        s.openTrace(.client("c1"))
        let starting = renderDashboard(snap, s, rows: rows, cols: cols)
        #expect(starting.lines.joined().contains("starting the trace"))
        s.receive(.started(trace: "t1", target: .client("c1")))
        for n in 1...40 { s.receive(line(n)) }
        s.receive(.skipped(trace: "t1", count: 7))
        let g = renderDashboard(snap, s, rows: rows, cols: cols)
        for text in g.lines { #expect(width(text) == cols) }
        #expect(!g.rows(containing: "Trace client c1").isEmpty)
        #expect(g.lines.joined().contains("7 skipped"))
        // The newest line is at the bottom, above the status line, with its time and channel.
        let newest = g.lines[rows - 2]
        #expect(newest.contains("delivery") && newest.contains("#news") && newest.contains("seq 40"))
        #expect(newest.contains("22:13:20.040"))
        if cols >= 80 { #expect(g.lines.last!.contains("stop trace")) }
    }
}
