/// Where each part of the dashboard goes at a given terminal size.
///
/// Row 0 is the header and the last row the status line. Below 60 columns or 14 rows only the
/// client table is shown; from 80×24 up there are sparklines, the client table, actors and
/// channels side by side, and the event log; extra rows go mostly to the client table. A
/// clustered dashboard (`nodes` > 0) has a nodes pane above the client table: up to five nodes,
/// and on a Redis Cluster (`shards`: the rows of the nodes' masters) a few more rows when the
/// client table keeps enough of its own. While a trace is
/// open (`tracing`) its pane takes the rows of actors, channels and events (in the minimal
/// layout, the lower half of the client table's).
struct Layout {
    let rows: Int
    let cols: Int
    let minimal: Bool
    let rates: Range<Int>
    /// The cluster's nodes (empty unless clustered).
    let nodes: Range<Int>
    let clients: Range<Int>
    let lower: Range<Int>
    let events: Range<Int>
    /// The open trace (empty unless tracing).
    let trace: Range<Int>
    /// Width of the actors pane; channels take the rest after a one-column separator.
    let actorsWidth: Int

    init(rows: Int, cols: Int, nodes nodeCount: Int = 0, shards shardCount: Int = 0, tracing: Bool = false) {
        self.rows = max(0, rows)
        self.cols = max(0, cols)
        let available = max(0, rows - 2)
        let top = min(1, max(0, rows))
        minimal = cols < 60 || available < 12
        actorsWidth = max(0, (cols * 11) / 20)
        if minimal {
            rates = top..<top
            nodes = top..<top
            let clientRows = tracing ? available - available / 2 : available
            clients = top..<(top + clientRows)
            lower = clients.upperBound..<clients.upperBound
            events = lower
            trace = clients.upperBound..<(top + available)
            return
        }
        var y = top
        let rateRows = available >= 18 ? 3 : 0
        rates = y..<(y + rateRows)
        y += rateRows
        let rest = available - rateRows
        let eventRows = rest >= 16 ? max(4, rest / 5 + 1) : 0
        let lowerRows = rest >= 10 ? max(5, rest / 4 + 1) : 0
        var clientRows = rest - eventRows - lowerRows
        let nodeRows = nodeCount > 0 && clientRows >= 10 ? min(nodeCount, 5) + min(shardCount, (clientRows - 10) / 2) + 2 : 0
        nodes = y..<(y + nodeRows)
        y += nodeRows
        clientRows -= nodeRows
        clients = y..<(y + clientRows)
        y += clientRows
        if tracing {
            lower = y..<y
            events = y..<y
            trace = y..<(y + lowerRows + eventRows)
        } else {
            lower = y..<(y + lowerRows)
            y += lowerRows
            events = y..<(y + eventRows)
            trace = events.upperBound..<events.upperBound
        }
    }

    func shows(_ pane: Pane) -> Bool {
        switch pane {
        case .clients: !clients.isEmpty
        case .actors, .channels: !lower.isEmpty
        case .events: !events.isEmpty
        case .trace: !trace.isEmpty
        }
    }

    /// The title rule, column header and data rows of a table in `area`.
    static func table(_ area: Range<Int>) -> (rule: Int?, header: Int?, body: Range<Int>) {
        switch area.count {
        case 0: return (nil, nil, area)
        case 1: return (nil, nil, area)
        case 2: return (nil, area.lowerBound, (area.lowerBound + 1)..<area.upperBound)
        default: return (area.lowerBound, area.lowerBound + 1, (area.lowerBound + 2)..<area.upperBound)
        }
    }

    /// The title rule and the lines of the event log in `area`.
    static func log(_ area: Range<Int>) -> (rule: Int?, body: Range<Int>) {
        area.count >= 2 ? (area.lowerBound, (area.lowerBound + 1)..<area.upperBound) : (nil, area)
    }

    /// Which of a log's `count` lines (oldest first, newest at the bottom) show in `height`
    /// rows, with the selection `selected` lines up from the newest kept in view: the lines
    /// hidden below the bottom and the range shown.
    static func logWindow(count: Int, height: Int, selected: Int, scroll: Int) -> (hidden: Int, shown: Range<Int>) {
        var hidden = min(scroll, selected)
        hidden = max(hidden, selected - height + 1)
        hidden = max(0, min(hidden, count - height))
        let end = count - hidden
        return (hidden, max(0, end - height)..<end)
    }

    /// Data rows a pane shows.
    func bodyRows(_ pane: Pane) -> Int {
        switch pane {
        case .clients: Layout.table(clients).body.count
        case .actors, .channels: Layout.table(lower).body.count
        case .events: Layout.log(events).body.count
        case .trace: Layout.log(trace).body.count
        }
    }
}
