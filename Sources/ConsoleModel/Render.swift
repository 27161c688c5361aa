public import SwitchboardCore

/// The glyphs the dashboard draws with, and their ASCII fallbacks.
struct Glyphs {
    let ascii: Bool
    var hline: String { ascii ? "-" : "─" }
    var vline: String { ascii ? "|" : "│" }
    var topLeft: String { ascii ? "+" : "┌" }
    var topRight: String { ascii ? "+" : "┐" }
    var bottomLeft: String { ascii ? "+" : "└" }
    var bottomRight: String { ascii ? "+" : "┘" }
    var ellipsis: String { ascii ? "~" : "…" }
    var ascending: String { ascii ? "^" : "▲" }
    var descending: String { ascii ? "v" : "▼" }
    var dash: String { ascii ? "-" : "–" }
    var barFull: String { ascii ? "#" : "█" }
    var barEmpty: String { ascii ? "." : "░" }
    var dot: String { ascii ? "*" : "●" }
    var down: String { ascii ? "rx " : "↓" }
    var up: String { ascii ? "tx " : "↑" }
    var promptMark: String { ascii ? ">" : "›" }
    var cursor: String { ascii ? "_" : "▏" }
}

enum Align { case left, right }

/// A grid plus the drawing conventions: ASCII sanitising, truncation with an ellipsis, and a
/// role that overrides every other (the selected row).
struct Canvas {
    var grid: Grid
    let glyphs: Glyphs
    var override: Role?

    init(rows: Int, cols: Int, ascii: Bool) {
        grid = Grid(rows: rows, cols: cols)
        glyphs = Glyphs(ascii: ascii)
    }

    var rows: Int { grid.rows }
    var cols: Int { grid.cols }

    func clean(_ text: String) -> String {
        guard glyphs.ascii else { return text }
        var result = ""
        for character in text {
            result.append(character.isASCII ? character : "?")
        }
        return result
    }

    /// Writes text as is (clipped), returning the columns used.
    @discardableResult
    mutating func put(_ text: String, _ row: Int, _ col: Int, _ role: Role, max width: Int? = nil) -> Int {
        grid.put(clean(text), row: row, col: col, role: override ?? role, maxWidth: width)
    }

    /// Writes text into exactly `width` columns: truncated with an ellipsis, padded, aligned.
    mutating func field(_ text: String, _ row: Int, _ col: Int, _ width: Int, _ role: Role, _ align: Align = .left) {
        guard width > 0 else { return }
        let text = fit(clean(text), width)
        let used = Grid.displayWidth(of: text)
        let start = align == .right ? col + width - used : col
        grid.fill(row: row, from: col, to: col + width, role: override ?? role)
        grid.put(text, row: row, col: start, role: override ?? role, maxWidth: width)
    }

    /// `text` cut to `width` columns, ending in an ellipsis when cut.
    func fit(_ text: String, _ width: Int) -> String {
        guard width > 0 else { return "" }
        if Grid.displayWidth(of: text) <= width { return text }
        var result = ""
        var used = 0
        let limit = width - 1
        for character in text {
            let w = Grid.displayWidth(of: character)
            if used + w > limit { break }
            result.append(character)
            used += w
        }
        return result + glyphs.ellipsis
    }

    mutating func fill(_ row: Int, _ from: Int, _ to: Int, _ role: Role) {
        grid.fill(row: row, from: from, to: to, role: override ?? role)
    }

    /// A horizontal rule from `from` to `to` with a title: `─ Title ─ info ────`.
    mutating func rule(_ row: Int, _ from: Int, _ to: Int, title: String, info: String, focused: Bool) {
        guard to > from else { return }
        for col in from..<to { grid.put(glyphs.hline, row: row, col: col, role: focused ? .title : .border) }
        var x = from + min(1, to - from)
        x += grid.put(" " + clean(title) + " ", row: row, col: x, role: focused ? .title : .label, maxWidth: to - x)
        if !info.isEmpty, x + 4 < to {
            x += 1
            grid.put(" " + fit(clean(info), to - x - 2) + " ", row: row, col: x, role: .dim, maxWidth: to - x)
        }
    }

    /// A bar `width` columns wide, filled for `value / capacity` (any non-zero value shows).
    mutating func bar(_ value: Int, capacity: Int, _ row: Int, _ col: Int, _ width: Int, fullRole: Role) {
        guard width > 0 else { return }
        var filled = 0
        if capacity > 0, value > 0 {
            filled = min(width, max(1, Int((Double(value) / Double(capacity) * Double(width)).rounded(.up))))
        }
        for i in 0..<width {
            put(i < filled ? glyphs.barFull : glyphs.barEmpty, row, col + i, i < filled ? fullRole : .barEmpty)
        }
    }

    /// A frame with a title; the inside is cleared.
    mutating func box(top: Int, left: Int, height: Int, width: Int, title: String) {
        guard height >= 2, width >= 2 else { return }
        let bottom = top + height - 1
        let right = left + width - 1
        for row in top...bottom { grid.fill(row: row, from: left, to: right + 1, role: .normal) }
        for col in left...right {
            grid.put(glyphs.hline, row: top, col: col, role: .border)
            grid.put(glyphs.hline, row: bottom, col: col, role: .border)
        }
        for row in top...bottom {
            grid.put(glyphs.vline, row: row, col: left, role: .border)
            grid.put(glyphs.vline, row: row, col: right, role: .border)
        }
        grid.put(glyphs.topLeft, row: top, col: left, role: .border)
        grid.put(glyphs.topRight, row: top, col: right, role: .border)
        grid.put(glyphs.bottomLeft, row: bottom, col: left, role: .border)
        grid.put(glyphs.bottomRight, row: bottom, col: right, role: .border)
        if width > 6 {
            grid.put(" " + fit(clean(title), width - 6) + " ", row: top, col: left + 2, role: .title, maxWidth: width - 4)
        }
    }
}

/// A column of a table: heading, width, alignment, and how to draw one row's cell.
struct Column<Row> {
    var title: String
    var width: Int
    var align: Align = .left
    /// Lower is more important: columns are dropped from the highest priority up when narrow.
    var priority: Int
    /// Share of the spare width this column takes (0: fixed).
    var flex: Int = 0
    var sorted: Bool = false
    var draw: (inout Canvas, Row, _ row: Int, _ col: Int, _ width: Int) -> Void
}

/// Chooses the columns that fit in `width` (by priority) and places them, sharing spare space
/// among the flexible ones.
func place<Row>(_ columns: [Column<Row>], width: Int) -> [(column: Column<Row>, x: Int, width: Int)] {
    var chosen = Set<Int>()
    var used = 0
    for index in columns.indices.sorted(by: { columns[$0].priority < columns[$1].priority }) {
        let need = columns[index].width + (chosen.isEmpty ? 0 : 1)
        if used + need <= width {
            chosen.insert(index)
            used += need
        }
    }
    var widths = columns.map(\.width)
    let flexible = chosen.filter { columns[$0].flex > 0 }.sorted()
    let weights = flexible.reduce(0) { $0 + columns[$1].flex }
    var spare = width - used
    if weights > 0 {
        let share = spare
        for index in flexible {
            let extra = share * columns[index].flex / weights
            widths[index] += extra
            spare -= extra
        }
        if let last = flexible.last { widths[last] += spare }
    }
    var x = 0
    var result: [(column: Column<Row>, x: Int, width: Int)] = []
    for index in columns.indices where chosen.contains(index) {
        result.append((columns[index], x, widths[index]))
        x += widths[index] + 1
    }
    return result
}

/// Draws a table: headings on `header`, then `rows` on the `body` lines from `start`.
func drawTable<Row>(
    _ canvas: inout Canvas, columns: [Column<Row>], rows: [Row], header: Int?, body: Range<Int>, left: Int, width: Int,
    selected: Int?, emptyMessage: String, descending: Bool = false
) {
    let placed = place(columns, width: width)
    if let header {
        canvas.fill(header, left, left + width, .label)
        for (column, x, w) in placed {
            let arrow = column.sorted ? column.title + (descending ? canvas.glyphs.descending : canvas.glyphs.ascending) : column.title
            canvas.field(arrow, header, left + x, w, column.sorted ? .accent : .label, column.align)
        }
    }
    if rows.isEmpty, let first = body.first {
        canvas.field(emptyMessage, first, left + 1, width - 1, .dim)
        return
    }
    for (offset, line) in body.enumerated() where offset < rows.count {
        let isSelected = selected == offset
        if isSelected {
            canvas.fill(line, left, left + width, .selected)
            canvas.override = .selected
        }
        for (column, x, w) in placed {
            column.draw(&canvas, rows[offset], line, left + x, w)
        }
        canvas.override = nil
    }
}

// MARK: - The dashboard

/// Renders one frame of the console. A pure function of the snapshot, the view state and the
/// size: every row is exactly `cols` columns wide and there are exactly `rows` rows.
public func renderDashboard(_ snapshot: DashboardSnapshot?, _ state: ViewState, rows: Int, cols: Int) -> Grid {
    var canvas = Canvas(rows: rows, cols: cols, ascii: state.ascii)
    guard rows > 0, cols > 0 else { return canvas.grid }
    let layout = Layout(rows: rows, cols: cols)
    drawHeader(&canvas, snapshot, state)
    if let snapshot {
        let now = state.now ?? estimateNow(snapshot)
        if !layout.rates.isEmpty { drawRates(&canvas, snapshot, state, layout.rates) }
        drawClients(&canvas, snapshot, state, layout.clients, now: now)
        if !layout.lower.isEmpty {
            drawActors(&canvas, snapshot, state, layout.lower, left: 0, width: layout.actorsWidth)
            for row in layout.lower { canvas.put(canvas.glyphs.vline, row, layout.actorsWidth, .border) }
            drawChannels(&canvas, snapshot, state, layout.lower, left: layout.actorsWidth + 1, width: cols - layout.actorsWidth - 1)
        }
        if !layout.events.isEmpty { drawEvents(&canvas, snapshot, state, layout.events) }
    } else if rows > 2 {
        let middle = 1 + (rows - 2) / 2
        let message = "connecting" + canvas.glyphs.ellipsis
        canvas.field(message, middle, max(0, (cols - Grid.displayWidth(of: message)) / 2), min(cols, Grid.displayWidth(of: message)), .dim)
    }
    if rows > 1 { drawStatus(&canvas, state, row: rows - 1) }
    drawOverlay(&canvas, snapshot, state, now: snapshot.map { state.now ?? estimateNow($0) })
    return canvas.grid
}

/// Without a clock, "now" is the latest moment the snapshot knows of.
func estimateNow(_ snapshot: DashboardSnapshot) -> Double {
    var now = snapshot.events.last?.time ?? 0
    for client in snapshot.clients.rows { now = max(now, client.lastActivity, client.connectedAt) }
    return now
}

// MARK: Header

private func drawHeader(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot?, _ state: ViewState) {
    let cols = canvas.cols
    canvas.fill(0, 0, cols, .header)
    let g = canvas.glyphs
    guard let snapshot else {
        canvas.put(" switchboard  connecting" + g.ellipsis, 0, 0, .header)
        return
    }
    let s = snapshot.server
    let t = snapshot.totals
    let r = snapshot.rates1s
    // (text, priority): lower priority numbers survive narrower terminals.
    var segments: [(String, Int)] = [
        ("\(s.name) \(s.version)", 0),
        (s.address, 6),
        ("up \(Format.duration(s.uptimeSeconds))", 4),
        ("\(Format.grouped(t.connections)) conn\(t.connections == 1 ? "" : "s")", 0),
        ("\(Format.grouped(t.subscriptions)) subs", 3),
        ("in \(Format.count(r.messagesIn))/s out \(Format.count(r.messagesOut))/s", 1),
        ("\(g.down)\(Format.bytes(r.bytesIn))/s \(g.up)\(Format.bytes(r.bytesOut))/s", 5),
        ("mbox \(Format.count(t.mailboxDepth))", 2),
    ]
    let health = " \(g.dot) \(s.health) "
    let paused = state.paused ? " PAUSED " : ""
    let reserved = Grid.displayWidth(of: health) + Grid.displayWidth(of: paused) + 1
    let separator = " \(g.vline) "
    var keep = Set<Int>()
    var used = 1
    for index in segments.indices.sorted(by: { segments[$0].1 < segments[$1].1 }) {
        let width = Grid.displayWidth(of: canvas.clean(segments[index].0)) + (keep.isEmpty ? 0 : 3)
        if used + width + reserved <= cols {
            keep.insert(index)
            used += width
        }
    }
    segments = segments.indices.filter { keep.contains($0) }.map { segments[$0] }
    var x = 1
    for (index, segment) in segments.enumerated() {
        if index > 0 { x += canvas.put(separator, 0, x, .header) }
        x += canvas.put(segment.0, 0, x, .header)
    }
    let healthRole: Role = s.health == "ok" ? .good : (s.health.hasPrefix("restart") || s.health == "draining" ? .warn : .bad)
    var right = cols - Grid.displayWidth(of: health)
    if right >= x { canvas.put(health, 0, right, healthRole) }
    right -= Grid.displayWidth(of: paused)
    if !paused.isEmpty, right >= x { canvas.put(paused, 0, right, .warn) }
}

// MARK: Rates

private func drawRates(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>) {
    let cols = canvas.cols
    let g = canvas.glyphs
    let panel = cols >= 120 ? min(58, cols / 3) : 0
    let left = cols - (panel > 0 ? panel + 1 : 0)
    let series = snapshot.series
    let lines: [(String, [Double], String, Role)] = [
        ("msgs in", series.messagesIn, Format.count(snapshot.rates1s.messagesIn) + "/s", .sparkIn),
        ("msgs out", series.messagesOut, Format.count(snapshot.rates1s.messagesOut) + "/s", .sparkOut),
        ("conns", series.connections, Format.grouped(snapshot.totals.connections), .accent),
    ]
    for (index, row) in area.enumerated() where index < lines.count {
        let (label, values, current, role) = lines[index]
        let labelWidth = 9
        let valueWidth = 9
        canvas.field(" " + label, row, 0, labelWidth, .label)
        let sparkWidth = max(0, left - labelWidth - valueWidth - 2)
        canvas.put(sparkline(values, width: sparkWidth, ascii: g.ascii), row, labelWidth + 1, role)
        canvas.field(current, row, left - valueWidth - 1, valueWidth, .value, .right)
    }
    guard panel > 0 else { return }
    for row in area { canvas.put(g.vline, row, left, .border) }
    let l = snapshot.latency
    let t = snapshot.totals
    let ascii = g.ascii
    let panelLines: [[(String, Role)]] = [
        [
            ("latency ", .label), ("p50 ", .dim), (Format.micros(l.p50, ascii: ascii), .value), ("  p99 ", .dim),
            (Format.micros(l.p99, ascii: ascii), .value), ("  max ", .dim), (Format.micros(l.max, ascii: ascii), .value),
        ],
        [
            ("totals  ", .label), ("in ", .dim), (Format.count(t.messagesIn), .value), ("  out ", .dim), (Format.count(t.messagesOut), .value),
            ("  pub ", .dim), (Format.count(t.published), .value), ("  ch ", .dim), (Format.count(t.channels), .value),
        ],
        [
            ("trouble ", .label), ("kicks ", .dim), ("\(t.kicks)", t.kicks > 0 ? .warn : .value), ("  slow ", .dim),
            ("\(t.slowConsumerCloses)", t.slowConsumerCloses > 0 ? .bad : .value), ("  err ", .dim), ("\(t.errors)", t.errors > 0 ? .bad : .value),
            ("  rst ", .dim), ("\(t.restarts)", t.restarts > 0 ? .warn : .value),
        ],
    ]
    for (index, row) in area.enumerated() where index < panelLines.count {
        var x = left + 2
        for (text, role) in panelLines[index] {
            x += canvas.put(text, row, x, role, max: cols - x)
        }
    }
}

// MARK: Clients

private func mailboxRole(_ depth: Int, _ capacity: Int) -> Role {
    guard capacity > 0 else { return .value }
    let ratio = Double(depth) / Double(capacity)
    return ratio >= 0.8 ? .bad : (ratio >= 0.5 ? .warn : .value)
}

private func drawClients(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>, now: Double) {
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
    if visible.contains(where: { $0.pusherApp != nil }) {
        columns.append(
            Column(title: "APP", width: 6, priority: 5) { c, r, y, x, w in
                c.field(r.pusherApp.map { "P:" + $0 } ?? "-", y, x, w, r.pusherApp == nil ? .dim : .normal)
            })
    }
    columns += [
        Column(title: "CHANNELS", width: 8, priority: 4, flex: 3, sorted: state.sort == .channels) { c, r, y, x, w in
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
    if window.total == 0 && (!state.filter.isEmpty || state.channel != nil) { empty = "no clients match (Esc clears the filter)" }
    let selectedOffset = focused && selected >= start && selected < start + visible.count ? selected - start : nil
    drawTable(
        &canvas, columns: columns, rows: visible, header: header, body: body, left: 1, width: canvas.cols - 1, selected: selectedOffset,
        emptyMessage: empty, descending: state.descending)
    if let selectedOffset { canvas.grid.paint(row: body.lowerBound + selectedOffset, from: 0, to: 1, role: .selected) }
}

// MARK: Actors and channels

private func window<T>(_ items: [T], selected: Int, scroll: Int, height: Int) -> (start: Int, items: ArraySlice<T>) {
    var start = min(scroll, selected)
    start = max(start, selected - height + 1)
    start = max(0, min(start, items.count - height))
    return (start, items.dropFirst(start).prefix(height))
}

private func drawActors(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>, left: Int, width: Int) {
    let (rule, header, body) = Layout.table(area)
    let focused = state.focus == .actors
    let selected = state.selected(.actors)
    let (start, shown) = window(snapshot.actors, selected: selected, scroll: state.scroll[.actors] ?? 0, height: body.count)
    if let rule {
        let hot = snapshot.actors.filter { $0.capacity > 0 && Double($0.depth) >= 0.8 * Double($0.capacity) }.count
        let info = "\(snapshot.actors.count) actors" + (hot > 0 ? "  \(hot) near full" : "")
        canvas.rule(rule, left, left + width, title: "Actors", info: info, focused: focused)
    }
    let columns: [Column<ActorRow>] = [
        Column(title: "ACTOR", width: 10, priority: 0, flex: 1) { c, r, y, x, w in
            let role = mailboxRole(r.depth, r.capacity)
            c.field(r.name, y, x, w, role == .value ? .normal : role)
        },
        Column(title: "KIND", width: 8, priority: 6) { c, r, y, x, w in c.field(r.kind, y, x, w, .dim) },
        Column(title: "DEPTH", width: 9, align: .right, priority: 1) { c, r, y, x, w in
            c.field("\(Format.count(r.depth))/\(Format.count(r.capacity))", y, x, w, mailboxRole(r.depth, r.capacity), .right)
        },
        Column(title: "", width: 8, priority: 3) { c, r, y, x, w in
            let role = mailboxRole(r.depth, r.capacity)
            c.bar(r.depth, capacity: r.capacity, y, x, w, fullRole: role == .value ? .barFull : role)
        },
        Column(title: "PEAK", width: 5, align: .right, priority: 4) { c, r, y, x, w in c.field(Format.count(r.peak), y, x, w, .value, .right) },
        Column(title: "PROC/S", width: 6, align: .right, priority: 2) { c, r, y, x, w in
            c.field(Format.count(r.processedPerSecond), y, x, w, .value, .right)
        },
        Column(title: "DROP", width: 5, align: .right, priority: 7) { c, r, y, x, w in
            c.field(Format.count(r.dropped), y, x, w, r.dropped > 0 ? .bad : .dim, .right)
        },
        Column(title: "RST", width: 3, align: .right, priority: 5) { c, r, y, x, w in
            c.field("\(r.restarts)", y, x, w, r.restarts > 0 ? .warn : .dim, .right)
        },
    ]
    let selectedOffset = focused ? selected - start : nil
    drawTable(
        &canvas, columns: columns, rows: Array(shown), header: header, body: body, left: left + 1, width: width - 1,
        selected: selectedOffset, emptyMessage: "no actors")
}

private func drawChannels(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>, left: Int, width: Int) {
    guard width > 2 else { return }
    let (rule, header, body) = Layout.table(area)
    let focused = state.focus == .channels
    let selected = state.selected(.channels)
    let (start, shown) = window(snapshot.channels, selected: selected, scroll: state.scroll[.channels] ?? 0, height: body.count)
    if let rule {
        canvas.rule(rule, left, left + width, title: "Channels", info: Format.grouped(snapshot.totals.channels), focused: focused)
    }
    let columns: [Column<ChannelRow>] = [
        Column(title: "CHANNEL", width: 8, priority: 0, flex: 1) { c, r, y, x, w in
            c.field("#" + r.name, y, x, w, state.channel == r.name ? .accent : .normal)
        },
        Column(title: "SUBS", width: 5, align: .right, priority: 1) { c, r, y, x, w in c.field(Format.count(r.subscribers), y, x, w, .value, .right)
        },
        Column(title: "MSG/S", width: 6, align: .right, priority: 2) { c, r, y, x, w in
            c.field(Format.count(r.messageRate), y, x, w, r.messageRate > 0 ? .value : .dim, .right)
        },
        Column(title: "PUBLISHED", width: 9, align: .right, priority: 3) { c, r, y, x, w in
            c.field(Format.count(r.published), y, x, w, .dim, .right)
        },
    ]
    let selectedOffset = focused ? selected - start : nil
    drawTable(
        &canvas, columns: columns, rows: Array(shown), header: header, body: body, left: left + 1, width: width - 1,
        selected: selectedOffset, emptyMessage: "no channels")
}

// MARK: Events

private func eventRole(_ kind: HubEvent.Kind) -> Role {
    switch kind {
    case .connect: .good
    case .disconnect: .normal
    case .kick, .restart: .warn
    case .slowConsumer, .error: .bad
    case .broadcast, .server: .accent
    }
}

private func eventLabel(_ kind: HubEvent.Kind) -> String {
    kind == .slowConsumer ? "slow consumer" : kind.rawValue
}

private func drawEvents(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>) {
    let (rule, body) = Layout.log(area)
    let focused = state.focus == .events
    let events = snapshot.events
    let height = body.count
    // Selection and scroll count from the newest event, which sits at the bottom.
    let selected = min(state.selected(.events), max(0, events.count - 1))
    var hidden = state.scroll[.events] ?? 0
    hidden = min(hidden, selected)
    hidden = max(hidden, selected - height + 1)
    hidden = max(0, min(hidden, events.count - height))
    let end = events.count - hidden
    let first = max(0, end - height)
    if let rule {
        let info = hidden > 0 ? "\(hidden) newer below" : "\(Format.grouped(events.count)) recent"
        canvas.rule(rule, 0, canvas.cols, title: "Events", info: info, focused: focused)
    }
    if events.isEmpty, let line = body.first {
        canvas.field("no events yet", line, 2, canvas.cols - 2, .dim)
        return
    }
    for (offset, index) in (first..<end).enumerated() where offset < height {
        let row = body.lowerBound + offset
        let event = events[index]
        let isSelected = focused && events.count - 1 - index == selected
        if isSelected {
            canvas.fill(row, 0, canvas.cols, .selected)
            canvas.override = .selected
        }
        var x = 1
        x += canvas.put(Format.clock(event.time) + " ", row, x, .dim)
        canvas.field(eventLabel(event.kind), row, x, 13, eventRole(event.kind))
        x += 14
        if let client = event.client {
            x += canvas.put(client + " ", row, x, .value)
        }
        if let code = event.code {
            x += canvas.put("code \(code) ", row, x, code == 1000 || code == 1001 ? .dim : .warn)
        }
        if !event.detail.isEmpty, x < canvas.cols - 1 {
            canvas.field(event.detail, row, x, canvas.cols - 1 - x, .normal)
        }
        canvas.override = nil
    }
}

// MARK: Status line

private func promptLabel(_ kind: PromptKind, _ g: Glyphs) -> String {
    switch kind {
    case .broadcast: " broadcast \(g.promptMark) "
    case .kickReason(let id): " kick \(id), reason \(g.promptMark) "
    case .command: " :"
    case .filter: " filter \(g.promptMark) "
    }
}

private func drawStatus(_ canvas: inout Canvas, _ state: ViewState, row: Int) {
    let cols = canvas.cols
    let g = canvas.glyphs
    if case .prompt(let prompt) = state.overlay {
        canvas.fill(row, 0, cols, .prompt)
        let label = canvas.clean(promptLabel(prompt.kind, g))
        let x = canvas.put(label, row, 0, .prompt)
        // Show the end of the text when it is longer than the line.
        let room = max(0, cols - x - 1)
        var text = canvas.clean(prompt.text)
        while Grid.displayWidth(of: text) > room, !text.isEmpty { text.removeFirst() }
        let used = canvas.put(text, row, x, .prompt)
        canvas.put(g.cursor, row, x + used, .prompt)
        return
    }
    canvas.fill(row, 0, cols, .status)
    var x = 0
    if case .confirm(let confirm) = state.overlay {
        x += canvas.put(" " + confirmQuestion(confirm) + " ", row, 0, .prompt)
        x += canvas.put(" y ", row, x, .helpKey)
        x += canvas.put("yes ", row, x, .status)
        x += canvas.put(" n ", row, x, .helpKey)
        canvas.put("no", row, x, .status)
        return
    }
    if !state.status.isEmpty {
        x += canvas.put(" " + canvas.fit(canvas.clean(state.status), max(1, cols - 2)) + " ", row, 0, .status)
        x += 1
    }
    let hints: [(String, String)] =
        state.overlay == nil
        ? [
            ("q", "quit"), ("?", "help"), ("b", "broadcast"), ("K", "kick"), ("/", "filter"), (":", "command"), ("s", "sort"),
            ("p", state.paused ? "resume" : "pause"), ("Tab", "pane"),
        ] : [("Esc", "close"), ("?", "help")]
    for (key, label) in hints {
        let width = Grid.displayWidth(of: key) + Grid.displayWidth(of: label) + 3
        guard x + width <= cols else { break }
        x += canvas.put(" \(key) ", row, x, .helpKey)
        x += canvas.put(label + " ", row, x, .status)
    }
}

private func confirmQuestion(_ confirm: Confirm) -> String {
    switch confirm {
    case .quit: "stop the server and quit?"
    case .kick(let id, let reason): "kick \(id) (\(reason))?"
    }
}

// MARK: Overlays

private func drawOverlay(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot?, _ state: ViewState, now: Double?) {
    guard let overlay = state.overlay else { return }
    var lines: [[(String, Role)]] = []
    var title = ""
    switch overlay {
    case .prompt:
        return  // on the status line
    case .help:
        title = "Keys"
        let keyWidth = keyBindings.map { Grid.displayWidth(of: canvas.clean($0.keys)) }.max() ?? 0
        for (keys, action) in keyBindings {
            let pad = String(repeating: " ", count: max(0, keyWidth - Grid.displayWidth(of: canvas.clean(keys))))
            lines.append([(keys + pad + "  ", .helpKey), (action, .normal)])
        }
        lines.append([])
        for (command, action) in commandHelp {
            lines.append([(command, .accent)])
            if !action.isEmpty { lines.append([("    " + action, .dim)]) }
        }
    case .detail(let id):
        title = "Client \(id)"
        if let client = snapshot?.clients.rows.first(where: { $0.id == id }) {
            let ago: (Double) -> String = { time in
                guard let now, now > 0 else { return "-" }
                return Format.duration(now - time) + " ago"
            }
            let m = client.mailbox
            let fields: [(String, String, Role)] = [
                ("remote", client.remoteAddress, .value),
                ("agent", client.userAgent.isEmpty ? "-" : client.userAgent, .value),
                ("protocol", client.pusherApp.map { "Pusher, app \($0), socket \(client.socketID ?? "-")" } ?? "native", .value),
                ("user", client.user ?? "-", client.user == nil ? .dim : .value),
                ("connected", ago(client.connectedAt), .value),
                ("last frame", ago(client.lastActivity), .value),
                ("channels", client.channels.isEmpty ? "-" : client.channels.map { "#" + $0 }.joined(separator: " "), .value),
                ("messages", "in \(Format.grouped(client.messagesIn))  out \(Format.grouped(client.messagesOut))", .value),
                ("bytes", "in \(Format.bytes(Double(client.bytesIn)))  out \(Format.bytes(Double(client.bytesOut)))", .value),
                ("rate", Format.count(client.rate) + " msgs/s", .value),
                (
                    "mailbox", "\(m.depth)/\(client.mailboxCapacity)  peak \(m.peak)  \(Format.bytes(Double(m.queuedBytes))) queued",
                    mailboxRole(m.depth, client.mailboxCapacity)
                ),
                (
                    "delivered", "\(Format.grouped(m.enqueued)) queued  \(Format.grouped(m.dequeued)) sent  \(Format.grouped(m.dropped)) dropped",
                    m.dropped > 0 ? .warn : .value
                ),
            ]
            for (label, value, role) in fields {
                lines.append([(label + String(repeating: " ", count: max(0, 11 - label.count)), .label), (value, role)])
            }
        } else {
            lines.append([("not in the current window (disconnected?)", .dim)])
        }
        lines.append([])
        lines.append([("K", .helpKey), (" kick   ", .normal), ("Esc", .helpKey), (" close", .normal)])
    case .confirm(let confirm):
        title = confirm == .quit ? "Quit" : "Kick"
        lines.append([(confirmQuestion(confirm), .normal)])
        lines.append([])
        lines.append([("y", .helpKey), (" yes   ", .normal), ("n", .helpKey), (" no", .normal)])
    }
    let contentWidth = lines.map { $0.reduce(0) { $0 + Grid.displayWidth(of: canvas.clean($1.0)) } }.max() ?? 0
    let width = min(canvas.cols, max(contentWidth, Grid.displayWidth(of: title) + 4) + 4)
    let height = min(max(0, canvas.rows - 2), lines.count + 2)
    guard width >= 4, height >= 2 else { return }
    let top = 1 + max(0, (canvas.rows - 2 - height) / 2)
    let left = max(0, (canvas.cols - width) / 2)
    canvas.box(top: top, left: left, height: height, width: width, title: title)
    for (index, line) in lines.enumerated() where index < height - 2 {
        var x = left + 2
        let limit = left + width - 2
        for (text, role) in line where x < limit {
            x += canvas.put(text, top + 1 + index, x, role, max: limit - x)
        }
    }
}
