import SwitchboardCore

func drawChannels(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>, left: Int, width: Int) {
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
        Column(title: "HIST", width: 5, align: .right, priority: 4) { c, r, y, x, w in
            c.field(r.history.map { Format.count($0) } ?? "-", y, x, w, r.history == nil ? .dim : .value, .right)
        },
        Column(title: "EPOCH", width: 8, priority: 5) { c, r, y, x, w in c.field(r.epoch ?? "", y, x, w, .dim) },
    ]
    let selectedOffset = focused ? selected - start : nil
    drawTable(
        &canvas, columns: columns, rows: Array(shown), header: header, body: body, left: left + 1, width: width - 1,
        selected: selectedOffset, emptyMessage: "no channels")
}
