import SwitchboardCore

/// The cluster's nodes: connections, rates, mailbox depth, Redis round trip, heartbeat age and the
/// Redis server each talks to (with its role and replicas' lag);
/// a dead node (silent for 5 s, not yet removed) is shown in the bad colour. While this node's
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
    func role(_ node: NodeRow, _ normal: Role) -> Role {
        switch node.state {
        case "alive": normal
        case "dead": .bad
        default: .warn
        }
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
    drawTable(
        &canvas, columns: columns, rows: nodes, header: header, body: body, left: 0, width: canvas.cols, selected: nil, emptyMessage: "no nodes")
}
