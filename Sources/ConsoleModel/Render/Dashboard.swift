public import SwitchboardCore

/// Renders one frame of the console. A pure function of the snapshot, the view state (with the
/// open trace's lines) and the size: every row is exactly `cols` columns wide and there are
/// exactly `rows` rows.
public func renderDashboard(_ snapshot: DashboardSnapshot?, _ state: ViewState, rows: Int, cols: Int) -> Grid {
    var canvas = Canvas(rows: rows, cols: cols, ascii: state.ascii)
    guard rows > 0, cols > 0 else { return canvas.grid }
    let layout = Layout(
        rows: rows, cols: cols, nodes: snapshot?.nodes?.count ?? 0, shards: snapshot?.nodes?.shardRows ?? 0, tracing: state.trace != nil)
    drawHeader(&canvas, snapshot, state)
    if let snapshot {
        let now = state.now ?? estimateNow(snapshot)
        if !layout.rates.isEmpty { drawRates(&canvas, snapshot, state, layout.rates) }
        if !layout.nodes.isEmpty, let nodes = snapshot.nodes { drawNodes(&canvas, nodes, layout.nodes) }
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
    if let trace = state.trace, !layout.trace.isEmpty { drawTrace(&canvas, trace, state, layout.trace) }
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
