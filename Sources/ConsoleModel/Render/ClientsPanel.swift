import SwitchboardCore

func mailboxRole(_ depth: Int, _ capacity: Int) -> Role {
    guard capacity > 0 else { return .value }
    let ratio = Double(depth) / Double(capacity)
    return ratio >= 0.8 ? .bad : (ratio >= 0.5 ? .warn : .value)
}

func drawClients(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>, now: Double) {
    guard !area.isEmpty else { return }
    let window = snapshot.clients
    let (rule, header, body) = Layout.table(area)
    let focused = state.focus == .clients
    // Which of the fetched rows to show: the scroll offset, moved so the selection is visible,
    // kept inside the window the server sent.
    let selected = state.selected(.clients)
    let height = max(1, body.count)
    var start = state.scroll[.clients] ?? 0
    start = min(start, selected)
    start = max(start, selected - height + 1)
    start = min(start, window.offset + window.rows.count - height)
    start = max(start, window.offset)
    let visible = Array(window.rows.dropFirst(start - window.offset).prefix(height))
    let g = canvas.glyphs
    if let rule {
        var info: [String] = []
        if let missing = window.missing, !missing.isEmpty { info.append("partial: no answer from " + missing.joined(separator: ",")) }
        if window.total > 0 {
            info.append("rows \(start + (visible.isEmpty ? 0 : 1))\(g.dash)\(start + visible.count) of \(Format.grouped(window.total))")
        } else {
            info.append("0 of \(Format.grouped(snapshot.totals.connections))")
        }
        info.append("sort \(state.sort.rawValue) \(state.descending ? g.descending : g.ascending)")
        if let channel = state.channel { info.append("#\(channel)") }
        if !state.filter.isEmpty { info.append("filter \"\(state.filter)\"") }
        canvas.rule(rule, 0, canvas.cols, title: "Connections", info: info.joined(separator: "  "), focused: focused)
    }
    let idWidth = min(14, max(4, visible.map { Grid.displayWidth(of: $0.id) }.max() ?? 4))
    let remoteWidth = min(21, max(6, visible.map { Grid.displayWidth(of: $0.remoteAddress) }.max() ?? 6))
    func ago(_ time: Double) -> String { now > 0 && time > 0 ? Format.duration(now - time) : "-" }
    var columns: [Column<ClientRow>] = [
        Column(title: "ID", width: idWidth, priority: 0, sorted: state.sort == .id) { c, r, y, x, w in c.field(r.id, y, x, w, .value) },
        Column(title: "REMOTE", width: remoteWidth, priority: 5, sorted: state.sort == .remote) { c, r, y, x, w in
            c.field(r.remoteAddress, y, x, w, .normal)
        },
    ]
    // Columns that only mean something when some client has them: who (token subject, Pusher
    // user, presence ids) and which Pusher app.
    if visible.contains(where: { $0.user != nil }) {
        columns.append(
            Column(title: "USER", width: 8, priority: 5, flex: 1) { c, r, y, x, w in c.field(r.user ?? "-", y, x, w, r.user == nil ? .dim : .normal) }
        )
    }
    if visible.contains(where: { $0.node != nil }) {
        let nodeWidth = min(12, max(4, visible.map { Grid.displayWidth(of: $0.node ?? "") }.max() ?? 4))
        columns.append(Column(title: "NODE", width: nodeWidth, priority: 2) { c, r, y, x, w in c.field(r.node ?? "-", y, x, w, .normal) })
    }
    if visible.contains(where: { $0.pusherApp != nil }) {
        columns.append(
            Column(title: "APP", width: 6, priority: 5) { c, r, y, x, w in
                c.field(r.pusherApp.map { "P:" + $0 } ?? "-", y, x, w, r.pusherApp == nil ? .dim : .normal)
            })
    }
    columns += [
        Column(title: "CHANNELS", width: 8, priority: 4, flex: 3, sorted: state.sort == .channels) { c, r, y, x, w in
            // A closing client has left its channels: say that it is closing, and why, instead.
            if r.state == .closing { return c.field(r.stateDescription, y, x, w, .warn) }
            c.field(r.channels.isEmpty ? "-" : r.channels.joined(separator: ","), y, x, w, r.channels.isEmpty ? .dim : .normal)
        },
        Column(title: "IN", width: 6, align: .right, priority: 3, sorted: state.sort == .messagesIn) { c, r, y, x, w in
            c.field(Format.count(r.messagesIn), y, x, w, .value, .right)
        },
        Column(title: "OUT", width: 6, align: .right, priority: 3, sorted: state.sort == .messagesOut) { c, r, y, x, w in
            c.field(Format.count(r.messagesOut), y, x, w, .value, .right)
        },
        Column(title: "RATE", width: 7, align: .right, priority: 1, sorted: state.sort == .rate) { c, r, y, x, w in
            c.field(Format.count(r.rate) + "/s", y, x, w, r.rate > 0 ? .value : .dim, .right)
        },
        Column(title: "MAILBOX", width: 13, priority: 1, sorted: state.sort == .mailbox) { c, r, y, x, w in
            let role = mailboxRole(r.mailbox.depth, r.mailboxCapacity)
            c.field(Format.count(r.mailbox.depth), y, x, 4, role, .right)
            let barRole: Role = role == .value ? .barFull : role
            c.bar(r.mailbox.depth, capacity: r.mailboxCapacity, y, x + 5, w - 5, fullRole: barRole)
        },
        Column(title: "AGE", width: 6, align: .right, priority: 6, sorted: state.sort == .age) { c, r, y, x, w in
            c.field(ago(r.connectedAt), y, x, w, .dim, .right)
        },
        Column(title: "IDLE", width: 6, align: .right, priority: 2, sorted: state.sort == .idle) { c, r, y, x, w in
            let idle = now - r.lastActivity
            c.field(ago(r.lastActivity), y, x, w, idle >= 60 ? .dim : .normal, .right)
        },
    ]
    if canvas.cols >= 140 {
        columns.append(
            Column(title: "RX", width: 7, align: .right, priority: 7) { c, r, y, x, w in
                c.field(Format.bytes(Double(r.bytesIn)), y, x, w, .dim, .right)
            })
        columns.append(
            Column(title: "TX", width: 7, align: .right, priority: 7) { c, r, y, x, w in
                c.field(Format.bytes(Double(r.bytesOut)), y, x, w, .dim, .right)
            })
        columns.append(
            Column(title: "AGENT", width: 12, priority: 8, flex: 2) { c, r, y, x, w in c.field(r.userAgent.isEmpty ? "-" : r.userAgent, y, x, w, .dim)
            })
    }
    var empty = "no clients connected"
    var hints: [String] = []
    if window.total == 0 && (!state.filter.isEmpty || state.channel != nil) {
        empty = "no clients match (Esc clears the filter)"
    } else if state.replay != nil {
        empty = snapshot.totals.connections == 0 ? "no clients connected at this moment" : "none of these clients was on the recorded screen"
    } else if snapshot.totals.connections == 0 {
        empty = "no clients connected yet. To see one here:"
        hints = firstClientHints(webSocketURL: snapshot.server.address)
    }
    let selectedOffset = focused && selected >= start && selected < start + visible.count ? selected - start : nil
    drawTable(
        &canvas, columns: columns, rows: visible, header: header, body: body, left: 1, width: canvas.cols - 1, selected: selectedOffset,
        emptyMessage: empty, emptyHints: hints, descending: state.descending)
    if let selectedOffset { canvas.grid.paint(row: body.lowerBound + selectedOffset, from: 0, to: 1, role: .selected) }
}

/// How to get a first client onto an empty dashboard: the live page, and a one-line client.
func firstClientHints(webSocketURL: String) -> [String] {
    guard let scheme = webSocketURL.firstRange(of: "://") else { return [] }
    let secure = webSocketURL.hasPrefix("wss")
    let rest = webSocketURL[scheme.upperBound...]
    let host = rest.prefix { $0 != "/" }
    return [
        "open \(secure ? "https" : "http")://\(host)/ in a browser (the live page), or run",
        "python3 -m websockets \(webSocketURL)   (pip install websockets)",
    ]
}
