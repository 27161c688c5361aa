import SwitchboardCore

func promptLabel(_ kind: PromptKind, _ g: Glyphs) -> String {
    switch kind {
    case .broadcast: " broadcast \(g.promptMark) "
    case .kickReason(let id): " kick \(id), reason \(g.promptMark) "
    case .kickUserReason(let user): " kick every connection of \(user), reason \(g.promptMark) "
    case .command: " :"
    case .filter: " filter \(g.promptMark) "
    case .traceFilter: " trace filter \(g.promptMark) "
    }
}

func drawStatus(_ canvas: inout Canvas, _ state: ViewState, row: Int) {
    let cols = canvas.cols
    let g = canvas.glyphs
    if case .prompt(let prompt) = state.overlay {
        canvas.fill(row, 0, cols, .prompt)
        let label = canvas.clean(promptLabel(prompt.kind, g))
        let x = canvas.put(label, row, 0, .prompt)
        // Show the end of the text when it is longer than the line.
        let room = max(0, cols - x - 1)
        var text = canvas.clean(prompt.text)
        while Grid.displayWidth(of: text) > room, !text.isEmpty { text.removeFirst() }
        let used = canvas.put(text, row, x, .prompt)
        canvas.put(g.cursor, row, x + used, .prompt)
        return
    }
    canvas.fill(row, 0, cols, .status)
    var x = 0
    if case .confirm(let confirm) = state.overlay {
        x += canvas.put(" " + confirmQuestion(confirm) + " ", row, 0, .prompt)
        x += canvas.put(" y ", row, x, .helpKey)
        x += canvas.put("yes ", row, x, .status)
        x += canvas.put(" n ", row, x, .helpKey)
        canvas.put("no", row, x, .status)
        return
    }
    if !state.status.isEmpty {
        x += canvas.put(" " + canvas.fit(canvas.clean(state.status), max(1, cols - 2)) + " ", row, 0, .status)
        x += 1
    }
    let hints: [(String, String)]
    if state.overlay != nil {
        hints = [("Esc", "close"), ("?", "help")]
    } else if state.focus == .trace, let trace = state.trace {
        hints = [
            ("p", trace.pausedAt == nil ? "pause trace" : "resume trace"), ("/", "filter trace"), ("Esc", "stop trace"), ("Tab", "pane"),
            ("q", "quit"),
        ]
    } else if let replay = state.replay {
        hints = [
            ("q", "quit"), ("?", "help"), ("Space", replay.playing ? "pause" : "play"), (g.ascii ? "<- ->" : "← →", "beat"), ("[ ]", "minute"),
            ("g G", "start/end"), ("/", "filter"), ("s", "sort"), ("Tab", "pane"),
        ]
    } else {
        hints = [
            ("q", "quit"), ("?", "help"), ("b", "broadcast"), ("K", "kick"), ("t", "trace"), ("/", "filter"), (":", "command"),
            ("s", "sort"), ("p", state.paused ? "resume" : "pause"), ("Tab", "pane"),
        ]
    }
    for (key, label) in hints {
        let width = Grid.displayWidth(of: key) + Grid.displayWidth(of: label) + 3
        guard x + width <= cols else { break }
        x += canvas.put(" \(key) ", row, x, .helpKey)
        x += canvas.put(label + " ", row, x, .status)
    }
}

func confirmQuestion(_ confirm: Confirm) -> String {
    switch confirm {
    case .quit: "stop the server and quit?"
    case .kick(let id, let reason): "kick \(id) (\(reason))?"
    case .kickUser(let user, let reason): "close every connection of \(user), on every node (\(reason))?"
    }
}
