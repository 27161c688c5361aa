import SwitchboardCore

func drawOverlay(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot?, _ state: ViewState, now: Double?) {
    guard let overlay = state.overlay else { return }
    var lines: [[(String, Role)]] = []
    var title = ""
    switch overlay {
    case .prompt:
        return  // on the status line
    case .help:
        title = "Keys"
        let bindings = (state.replay == nil ? [] : replayKeyBindings) + keyBindings
        let keyWidth = bindings.map { Grid.displayWidth(of: canvas.clean($0.keys)) }.max() ?? 0
        for (keys, action) in bindings {
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
                ("state", client.stateDescription, client.state == .open ? .good : .warn),
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
            lines.append([("no longer in the window on screen (it moved in the sort, or disconnected)", .dim)])
        }
        lines.append([])
        lines.append([
            ("K", .helpKey), (" kick   ", .normal), ("U", .helpKey), (" kick the user   ", .normal), ("Esc", .helpKey), (" close", .normal),
        ])
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
