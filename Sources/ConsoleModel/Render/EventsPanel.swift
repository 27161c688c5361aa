import SwitchboardCore

func eventRole(_ kind: HubEvent.Kind) -> Role {
    switch kind {
    case .connect: .good
    case .disconnect: .normal
    case .kick, .restart, .refused: .warn
    case .slowConsumer, .error: .bad
    case .broadcast, .server, .traceStarted, .traceStopped: .accent
    }
}

func eventLabel(_ kind: HubEvent.Kind) -> String {
    kind == .slowConsumer ? "slow consumer" : kind.rawValue
}

func drawEvents(_ canvas: inout Canvas, _ snapshot: DashboardSnapshot, _ state: ViewState, _ area: Range<Int>) {
    let (rule, body) = Layout.log(area)
    let focused = state.focus == .events
    let events = snapshot.events
    let height = body.count
    // Selection and scroll count from the newest event, which sits at the bottom.
    let selected = min(state.selected(.events), max(0, events.count - 1))
    let (hidden, shown) = Layout.logWindow(count: events.count, height: height, selected: selected, scroll: state.scroll[.events] ?? 0)
    if let rule {
        let info = hidden > 0 ? "\(hidden) newer below" : "\(Format.grouped(events.count)) recent"
        canvas.rule(rule, 0, canvas.cols, title: "Events", info: info, focused: focused)
    }
    if events.isEmpty, let line = body.first {
        canvas.field("no events yet", line, 2, canvas.cols - 2, .dim)
        return
    }
    for (offset, index) in shown.enumerated() where offset < height {
        let row = body.lowerBound + offset
        let event = events[index]
        let isSelected = focused && events.count - 1 - index == selected
        if isSelected {
            canvas.fill(row, 0, canvas.cols, .selected)
            canvas.override = .selected
        }
        var x = 1
        x += canvas.put(Format.clock(event.time) + " ", row, x, .dim)
        canvas.field(eventLabel(event.kind), row, x, 13, eventRole(event.kind))
        x += 14
        if let client = event.client {
            x += canvas.put(client + " ", row, x, .value)
        }
        if let code = event.code {
            x += canvas.put("code \(code) ", row, x, code == 1000 || code == 1001 ? .dim : .warn)
        }
        if !event.detail.isEmpty, x < canvas.cols - 1 {
            canvas.field(event.detail, row, x, canvas.cols - 1 - x, .normal)
        }
        canvas.override = nil
    }
}
