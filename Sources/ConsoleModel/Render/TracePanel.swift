import SwitchboardCore

/// The trace pane: a rule naming the target and how the trace stands, then its lines, newest
/// at the bottom (like the event log), each `time dir kind client #channel seq … data`.
func drawTrace(_ canvas: inout Canvas, _ pane: TracePane, _ state: ViewState, _ area: Range<Int>) {
    let (rule, body) = Layout.log(area)
    let focused = state.focus == .trace
    let lines = pane.shown
    let height = body.count
    let selected = min(state.selected(.trace), max(0, lines.count - 1))
    let (hidden, shown) = Layout.logWindow(count: lines.count, height: height, selected: selected, scroll: state.scroll[.trace] ?? 0)
    if let rule {
        canvas.rule(rule, 0, canvas.cols, title: "Trace \(pane.target.description)", info: traceInfo(pane, hidden: hidden), focused: focused)
    }
    if lines.isEmpty, let line = body.first {
        let message: String
        if let ended = pane.ended {
            message = "trace ended: \(ended)"
        } else if !pane.started {
            message = "starting the trace" + canvas.glyphs.ellipsis
        } else {
            message = pane.filter.isEmpty ? "nothing yet: waiting for traffic" : "no line matches the filter"
        }
        canvas.field(message, line, 2, canvas.cols - 2, .dim)
        return
    }
    // The node is worth a column only when lines come from more than one.
    let showNodes = state.clusterNodes > 0
    for (offset, index) in shown.enumerated() where offset < height {
        let row = body.lowerBound + offset
        let line = lines[index]
        if focused && lines.count - 1 - index == selected {
            canvas.fill(row, 0, canvas.cols, .selected)
            canvas.override = .selected
        }
        var x = 1
        x += canvas.put(Format.clockMillis(line.time) + " ", row, x, .dim)
        if showNodes { x += canvas.put(line.node + " ", row, x, .dim) }
        canvas.field(line.direction?.rawValue ?? "", row, x, 3, .dim)
        x += 4
        canvas.field(line.kind.rawValue, row, x, 13, traceRole(line))
        x += 14
        if x < canvas.cols - 1 { canvas.field(line.details, row, x, canvas.cols - 1 - x, .normal) }
        canvas.override = nil
    }
}

/// `1,234 lines · 12 skipped · paused · filter "x" · ended: reader gone`.
private func traceInfo(_ pane: TracePane, hidden: Int) -> String {
    var parts = ["\(Format.grouped(pane.received)) lines"]
    if pane.skipped > 0 { parts.append("\(Format.grouped(pane.skipped)) skipped") }
    if hidden > 0 { parts.append("\(hidden) newer below") }
    if pane.pausedAt != nil { parts.append("paused") }
    if !pane.filter.isEmpty { parts.append("filter \"\(pane.filter)\"") }
    if let ended = pane.ended { parts.append("ended: \(ended)") }
    return parts.joined(separator: " · ")
}

private func traceRole(_ line: TraceLine) -> Role {
    switch line.kind {
    case .drop, .messagesLost: .bad
    case .refused, .close: .warn
    case .delivery, .publish: .accent
    case .subscribe, .join: .good
    case .request, .reply, .ping, .pong, .unsubscribe, .leave: .normal
    }
}
