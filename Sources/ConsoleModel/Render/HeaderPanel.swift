import SwitchboardCore

func drawHeader(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot?, _ state: ViewState) {
    let cols = canvas.cols
    canvas.fill(0, 0, cols, .header)
    let g = canvas.glyphs
    guard let snapshot else {
        canvas.put(state.replay == nil ? " switchboard  connecting" + g.ellipsis : " switchboard  replay", 0, 0, .header)
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
    if let replay = state.replay {
        // A replay says so first, with the recording's time and beat: it is never taken for live
        // figures, and stepping always shows where it is, however wide the figures run.
        let mark = replay.playing ? "playing" : "paused"
        let offset = "+\(Format.duration(replay.time - replay.start))"
        segments.insert(("replay \(Format.clock(replay.time)) \(mark) \(offset) beat \(replay.beat)/\(replay.beats)", 0), at: 0)
    }
    // Each application proxy: its rate, p99 and failures (the first to go when narrow).
    for proxy in snapshot.proxies ?? [] {
        let circuit = proxy.circuitOpen ? " OPEN" : ""
        segments.append(
            (
                "\(proxy.proxy) \(Format.count(proxy.rate))/s p99 \(Format.micros(proxy.p99, ascii: g.ascii)) fail \(Format.count(proxy.failures))\(circuit)",
                7
            ))
    }
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
    let warning = s.health.hasPrefix("restart") || s.health == "draining" || s.health.hasSuffix("link down")
    let healthRole: Role = s.health == "ok" ? .good : (warning ? .warn : .bad)
    var right = cols - Grid.displayWidth(of: health)
    if right >= x { canvas.put(health, 0, right, healthRole) }
    right -= Grid.displayWidth(of: paused)
    if !paused.isEmpty, right >= x { canvas.put(paused, 0, right, .warn) }
}
