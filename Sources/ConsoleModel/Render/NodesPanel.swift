import SwitchboardCore

/// The cluster's nodes: connections, rates, mailbox depth, Redis round trip, heartbeat age and the
/// Redis server each talks to (with its role and replicas' lag); on a Redis Cluster, under each
/// node a row per master it talks to (address, role, round trip, pending requests, subscriber
/// connection), a node's all or none as the pane's height allows, nodes first.
/// A dead node (silent for 5 s, not yet removed) is shown in the bad colour. While this node's
/// own link to Redis is down its row says `down` and the others', as last read, `?`.
func drawNodes(_ canvas: inout Canvas, _ nodes: [NodeRow], _ area: Range<Int>) {
    let (rule, header, body) = Layout.table(area)
    let alive = nodes.filter { $0.state == "alive" }.count
    let dead = nodes.filter { $0.state == "dead" }.count
    if let rule {
        let info =
            nodes.contains { $0.state == "down" }
            ? "this node's Redis link is down; the others as last seen"
            : "\(alive) alive" + (dead > 0 ? ", \(dead) dead" : "")
        canvas.rule(rule, 0, canvas.cols, title: "Nodes", info: info, focused: false)
    }
    let columns: [Column<NodeRow>] = [
        Column(title: "NODE", width: 12, priority: 0, flex: 1) { c, r, y, x, w in c.field(r.name, y, x, w, role(r, .value)) },
        Column(title: "STATE", width: 5, priority: 0) { c, r, y, x, w in c.field(r.state, y, x, w, role(r, .good)) },
        Column(title: "CONNS", width: 6, align: .right, priority: 1) { c, r, y, x, w in
            c.field(Format.count(r.connections), y, x, w, role(r, .value), .right)
        },
        Column(title: "IN/S", width: 6, align: .right, priority: 2) { c, r, y, x, w in
            c.field(Format.count(r.messagesInPerSecond), y, x, w, role(r, .value), .right)
        },
        Column(title: "OUT/S", width: 6, align: .right, priority: 2) { c, r, y, x, w in
            c.field(Format.count(r.messagesOutPerSecond), y, x, w, role(r, .value), .right)
        },
        Column(title: "MAILBOX", width: 7, align: .right, priority: 3) { c, r, y, x, w in
            c.field(Format.count(r.mailboxDepth), y, x, w, role(r, .value), .right)
        },
        Column(title: "REDIS", width: 8, align: .right, priority: 3) { c, r, y, x, w in
            let text = r.redisUp ? r.redisRoundTripMilliseconds.map { Format.oneDecimal($0) + "ms" } ?? "up" : "down"
            c.field(text, y, x, w, r.redisUp ? role(r, .normal) : .bad, .right)
        },
        Column(title: "HEARTBEAT", width: 9, align: .right, priority: 4) { c, r, y, x, w in
            c.field(Format.duration(Double(r.heartbeatAgeMilliseconds) / 1000), y, x, w, role(r, .dim), .right)
        },
        Column(title: "ADDRESS", width: 10, priority: 5, flex: 1) { c, r, y, x, w in c.field(r.address, y, x, w, role(r, .dim)) },
        Column(title: "REDIS SERVER", width: 14, priority: 6, flex: 1) { c, r, y, x, w in
            c.field(r.redisServer ?? "-", y, x, w, role(r, .dim))
        },
    ]
    // A shard's line is drawn by the first column across the whole width; the others pass it over.
    let lines: [Column<NodesLine>] = columns.enumerated().map { index, column in
        Column(title: column.title, width: column.width, align: column.align, priority: column.priority, flex: column.flex) { c, line, y, x, w in
            switch line {
            case .node(let node): column.draw(&c, node, y, x, w)
            case .shard(let shard, let node): if index == 0 { drawShard(&c, shard, of: node, y, x, c.cols - x) }
            }
        }
    }
    drawTable(
        &canvas, columns: lines, rows: NodesLine.lines(nodes, fitting: body.count), header: header, body: body, left: 0, width: canvas.cols,
        selected: nil, emptyMessage: "no nodes")
}

/// The colour of a node's figures: `normal` while it is alive, else the colour of its state.
private func role(_ node: NodeRow, _ normal: Role) -> Role {
    switch node.state {
    case "alive": normal
    case "dead": .bad
    default: .warn
    }
}

/// A line of the nodes pane: a node, or one of the Redis Cluster masters it talks to.
enum NodesLine {
    case node(NodeRow)
    case shard(ShardRow, of: NodeRow)

    /// Each node's line followed by its masters' when `height` lines leave room for all of
    /// them after every node's line.
    static func lines(_ nodes: [NodeRow], fitting height: Int) -> [NodesLine] {
        var spare = height - nodes.count
        return nodes.flatMap { node in
            let shards = node.redisShards ?? []
            guard !shards.isEmpty, shards.count <= spare else { return [NodesLine.node(node)] }
            spare -= shards.count
            return [.node(node)] + shards.map { .shard($0, of: node) }
        }
    }
}

extension [NodeRow] {
    /// The masters listed under the nodes, added up.
    var shardRows: Int { reduce(0) { $0 + ($1.redisShards?.count ?? 0) } }
}

/// One master's line: `└ 10.0.0.7:7001 master  rtt 310µs  pending 0  subscriber up`, what is
/// down in the bad colour.
private func drawShard(_ canvas: inout Canvas, _ shard: ShardRow, of node: NodeRow, _ y: Int, _ x: Int, _ width: Int) {
    let roundTrip = shard.roundTripMicroseconds.map { "rtt " + Format.micros(UInt64(max(0, $0)), ascii: canvas.glyphs.ascii) } ?? "rtt -"
    let parts: [(String, Role)] = [
        ("  " + canvas.glyphs.bottomLeft + " " + shard.address, role(node, .value)),
        (shard.role, role(node, .dim)),
        (shard.up ? roundTrip : "down", shard.up ? role(node, .normal) : .bad),
        ("pending " + Format.count(shard.pending), role(node, .normal)),
        ("subscriber " + (shard.subscriberUp ? "up" : "down"), shard.subscriberUp ? role(node, .good) : .bad),
    ]
    canvas.field("", y, x, width, .normal)
    var column = x
    for (text, role) in parts where column < x + width {
        column += canvas.put(text, y, column, role, max: x + width - column) + 2
    }
}
