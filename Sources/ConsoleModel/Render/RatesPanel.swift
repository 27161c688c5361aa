import SwitchboardCore

func drawRates(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>) {
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
            ("  resumed ", .dim), (Format.count(t.recovered), .value),
        ],
        [
            ("trouble ", .label), ("kicks ", .dim), ("\(t.kicks)", t.kicks > 0 ? .warn : .value), ("  slow ", .dim),
            ("\(t.slowConsumerCloses)", t.slowConsumerCloses > 0 ? .bad : .value), ("  err ", .dim), ("\(t.errors)", t.errors > 0 ? .bad : .value),
            ("  rst ", .dim), ("\(t.restarts)", t.restarts > 0 ? .warn : .value), ("  unrecovered ", .dim),
            (Format.count(t.notRecovered), t.notRecovered > 0 ? .warn : .value),
        ],
    ]
    for (index, row) in area.enumerated() where index < panelLines.count {
        var x = left + 2
        for (text, role) in panelLines[index] {
            x += canvas.put(text, row, x, role, max: cols - x)
        }
    }
}
