import SwitchboardCore

func drawActors(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>, left: Int, width: Int) {
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
        Column(title: "KIND", width: 8, priority: 6) { c, r, y, x, w in c.field(r.kind.rawValue, y, x, w, .dim) },
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
