public import SwitchboardCore

/// A key press, as the terminal module reports it.
public enum Key: Equatable, Sendable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end, tab, backTab, enter, escape, backspace, resize
}

/// What the console loop must do after a key: everything else is a change of ``ViewState``.
public enum Effect: Equatable, Sendable {
    case quit(stopServer: Bool)
    case broadcast(channel: String?, text: String)
    case kick(clientID: String, reason: String)
    case kickAll(reconnect: Bool)
    /// Close every connection of a user, on every node.
    case kickUser(user: String, reason: String)
    case setTheme(String)
    /// Start following a client, user or channel in the trace pane (ending any trace open).
    case startTrace(TraceTarget)
    /// End the open trace.
    case stopTrace
    /// A replay key: move through the recording.
    case replay(ReplayMove)
    case none
}

extension Effect {
    /// The operator command this effect asks the hub for, if it is one: the same value whether
    /// the console is local or attached, performed by the hub's one interpreter.
    public var operatorCommand: OperatorCommand? {
        switch self {
        case .broadcast(let channel?, let text): .publish(channel: channel, data: Array(JSONText.quoted(text).utf8), from: "operator")
        case .broadcast(nil, let text): .broadcast(data: Array(JSONText.quoted(text).utf8))
        case .kick(let clientID, let reason): .kick(.client(clientID), reason: reason, reconnect: false)
        case .kickAll(let reconnect): .kick(.all, reconnect: reconnect)
        case .kickUser(let user, let reason): .kick(.user(user), reason: reason, reconnect: false)
        case .quit, .setTheme, .startTrace, .stopTrace, .replay, .none: nil
        }
    }
}

/// The close reason of a kick when the operator gives none.
private let defaultKickReason = OperatorCommand.defaultKickReason(reconnect: false)

/// Every key the console understands, for the help overlay: (keys, what they do).
public let keyBindings: [(keys: String, action: String)] = [
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn", "page up / down"),
    ("Home End  g G", "first / last row"),
    ("Tab S-Tab  ← →", "next / previous pane"),
    ("Enter", "client details; on a channel: show its clients"),
    ("b", "broadcast (#channel text: to one channel)"),
    ("K", "kick the selected client (reason, then y)"),
    ("t", "trace the selected client or channel live"),
    ("p  /  Esc", "in the trace: pause, filter, stop the trace"),
    ("/", "filter clients (Enter applies)"),
    ("s  S", "next sort column / reverse order"),
    ("p", "pause / resume updates"),
    (":", "command line"),
    ("?", "this help"),
    ("Esc", "close; clear filter and channel"),
    ("q", "quit"),
]

/// The `:` commands, for the help overlay.
public let commandHelp: [(command: String, action: String)] = [
    (":broadcast [#channel] text", "send text to everyone or one channel"),
    (":kick id [reason]", "close one client"),
    (":kick --user name [reason]", "close every connection of a user, on every node"),
    (":kick --all [--reconnect]", "close every client"),
    (":trace client|user|channel name", "follow its traffic live, on every node"),
    (":sort column [desc]", ClientQuery.SortKey.allCases.map(\.rawValue).joined(separator: " ")),
    (":filter [text]  :channel [name]", "narrow the client table"),
    (":theme name", "switch colour theme"),
    (":pause  :help  :quit", ""),
]

/// The keys of a replay, for the help overlay (they win over the live meanings above).
public let replayKeyBindings: [(keys: String, action: String)] = [
    ("Space p", "pause / play"),
    ("← →", "one beat (recorded snapshot) back / forward"),
    ("[ ]", "a minute back / forward"),
    ("g G", "start / end of the recording"),
]

/// Applies a key to the view state and says what the loop must do.
///
/// htop/k9s habits: arrows or `j`/`k` move, Tab cycles panes, Enter opens details, `b`
/// broadcasts, `K` kicks, `:` opens the command line, `/` filters, `s`/`S` sort, `p` pauses,
/// `?` helps, `q` quits (asking first when the server would stop), Esc closes. In a replay
/// (``ViewState/replay``) the replay keys come first and operator actions are refused.
public func handle(_ key: Key, state: inout ViewState, snapshot: DashboardSnapshot?) -> Effect {
    guard state.replay != nil else { return handleLive(key, state: &state, snapshot: snapshot) }
    if let effect = handleReplay(key, state: &state) { return effect }
    let effect = handleLive(key, state: &state, snapshot: snapshot)
    guard effect.operatorCommand == nil else {
        state.status = replayRefusal
        return .none
    }
    return effect
}

private func handleLive(_ key: Key, state: inout ViewState, snapshot: DashboardSnapshot?) -> Effect {
    if key == .resize { return .none }
    if let overlay = state.overlay {
        switch overlay {
        case .help:
            state.overlay = nil
            return .none
        case .detail(let clientID):
            switch key {
            case .character("K"):
                state.overlay = .prompt(Prompt(kind: .kickReason(clientID: clientID)))
            case .character("U"):
                if let user = snapshot?.clients.rows.first(where: { $0.id == clientID })?.user {
                    state.overlay = .prompt(Prompt(kind: .kickUserReason(user: user)))
                } else {
                    state.status = "\(clientID) has no user to kick (no token sub, not signed in)"
                }
            case .character("t"):
                state.overlay = nil
                return startTrace(.client(clientID), state: &state)
            case .character("?"):
                state.overlay = .help
            case .escape, .enter, .character("q"), .backspace:
                state.overlay = nil
            default:
                break
            }
            return .none
        case .prompt(let prompt):
            return handlePrompt(key, prompt: prompt, state: &state, snapshot: snapshot)
        case .confirm(let confirm):
            switch key {
            case .character("y"), .character("Y"):
                state.overlay = nil
                switch confirm {
                case .quit:
                    return .quit(stopServer: true)
                case .kick(let clientID, let reason):
                    state.status = "kicking \(clientID)…"
                    return .kick(clientID: clientID, reason: reason)
                case .kickUser(let user, let reason):
                    state.status = "closing every connection of \(user)…"
                    return .kickUser(user: user, reason: reason)
                }
            case .character("n"), .character("N"), .escape, .character("q"):
                state.overlay = nil
                state.status = "cancelled"
            default:
                break
            }
            return .none
        }
    }

    state.status = ""
    if state.focus == .trace, let effect = handleTraceKey(key, state: &state) { return effect }
    switch key {
    case .up, .character("k"): move(by: -1, state: &state, snapshot: snapshot)
    case .down, .character("j"): move(by: 1, state: &state, snapshot: snapshot)
    case .pageUp: turnPage(by: -1, state: &state, snapshot: snapshot)
    case .pageDown: turnPage(by: 1, state: &state, snapshot: snapshot)
    case .home, .character("g"): move(by: Int.min / 2, state: &state, snapshot: snapshot)
    case .end, .character("G"): move(by: Int.max / 2, state: &state, snapshot: snapshot)
    case .tab, .right, .character("l"): cycleFocus(by: 1, state: &state)
    case .backTab, .left, .character("h"): cycleFocus(by: -1, state: &state)
    case .enter:
        switch state.focus {
        case .clients:
            if let client = selectedClient(state, snapshot) {
                state.overlay = .detail(clientID: client.id)
            } else {
                state.status = "no client selected"
            }
        case .channels:
            if let channel = selectedChannel(state, snapshot) {
                setChannel(channel.name, state: &state)
                state.focus = .clients
            }
        case .actors, .events, .trace:
            break
        }
    case .character("b"):
        var text = ""
        if state.focus == .channels, let channel = selectedChannel(state, snapshot) { text = "#\(channel.name) " }
        state.overlay = .prompt(Prompt(kind: .broadcast, text: text))
    case .character("K"):
        if state.focus == .clients, let client = selectedClient(state, snapshot) {
            state.overlay = .prompt(Prompt(kind: .kickReason(clientID: client.id)))
        } else {
            state.status = "select a client to kick (or :kick id)"
        }
    case .character("t"):
        switch state.focus {
        case .clients:
            if let client = selectedClient(state, snapshot) { return startTrace(.client(client.id), state: &state) }
        case .channels:
            if let channel = selectedChannel(state, snapshot) { return startTrace(.channel(channel.name), state: &state) }
        case .actors, .events, .trace:
            break
        }
        state.status = "select a client or a channel to trace (or :trace client|user|channel name)"
    case .character(":"):
        state.overlay = .prompt(Prompt(kind: .command))
    case .character("/"):
        state.overlay = .prompt(Prompt(kind: .filter, text: state.filter))
    case .character("s"):
        let keys = ClientQuery.SortKey.allCases
        let next = keys[((keys.firstIndex(of: state.sort) ?? 0) + 1) % keys.count]
        setSort(next, descending: state.descending, state: &state)
    case .character("S"):
        setSort(state.sort, descending: !state.descending, state: &state)
    case .character("p"):
        state.paused.toggle()
        state.status = state.paused ? "paused (p resumes)" : "resumed"
    case .character("?"):
        state.overlay = .help
    case .character("q"):
        return quit(state: &state)
    case .escape:
        if !state.filter.isEmpty || state.channel != nil {
            state.filter = ""
            state.channel = nil
            resetClients(&state)
            state.status = "filter cleared"
        }
    default:
        break
    }
    return .none
}

// MARK: Replay

/// What a replay says to an operator action.
public let replayRefusal = "replay: operator actions are not available"

/// The keys of a replay, over the dashboard or a client's details; nil for the others.
private func handleReplay(_ key: Key, state: inout ViewState) -> Effect? {
    switch state.overlay {
    case nil:
        switch key {
        case .character(" "), .character("p"): return .replay(.togglePlay)
        case .left: return .replay(.step(-1))
        case .right: return .replay(.step(1))
        case .character("["): return .replay(.jump(seconds: -60))
        case .character("]"): return .replay(.jump(seconds: 60))
        case .character("g"): return .replay(.start)
        case .character("G"): return .replay(.end)
        case .character("b"), .character("K"): break
        default: return nil
        }
    case .detail:
        guard key == .character("K") || key == .character("U") else { return nil }
    default:
        return nil
    }
    state.status = replayRefusal
    return Effect.none
}

// MARK: Prompts

private func handlePrompt(_ key: Key, prompt: Prompt, state: inout ViewState, snapshot: DashboardSnapshot?) -> Effect {
    var prompt = prompt
    switch key {
    case .character(let character):
        prompt.text.append(character)
        state.overlay = .prompt(prompt)
    case .backspace:
        if !prompt.text.isEmpty { prompt.text.removeLast() }
        state.overlay = .prompt(prompt)
    case .escape:
        state.overlay = nil
    case .enter:
        state.overlay = nil
        switch prompt.kind {
        case .broadcast:
            return broadcast(prompt.text, state: &state)
        case .kickReason(let clientID):
            let reason = trim(prompt.text)
            state.overlay = .confirm(.kick(clientID: clientID, reason: reason.isEmpty ? defaultKickReason : reason))
        case .kickUserReason(let user):
            let reason = trim(prompt.text)
            state.overlay = .confirm(.kickUser(user: user, reason: reason.isEmpty ? defaultKickReason : reason))
        case .command:
            return runCommand(prompt.text, state: &state, snapshot: snapshot)
        case .filter:
            setFilter(trim(prompt.text), state: &state)
        case .traceFilter:
            let filter = trim(prompt.text)
            state.trace?.filter = filter
            state.selection[.trace] = 0
            state.scroll[.trace] = 0
            state.status = filter.isEmpty ? "trace filter cleared" : "trace filter: \(filter)"
        }
    default:
        break
    }
    return .none
}

/// `text`, or `#channel text` for one channel.
private func broadcast(_ input: String, state: inout ViewState) -> Effect {
    var text = trim(input)
    var channel: String?
    if text.hasPrefix("#") {
        let (word, rest) = splitWord(text)
        let name = String(word.dropFirst())
        guard ChannelName.isValid(name) else {
            state.status = "bad channel name '\(name)': use letters, digits and _ . : @ / -"
            return .none
        }
        channel = name
        text = rest
    }
    guard !text.isEmpty else {
        state.status = "nothing to broadcast"
        return .none
    }
    state.status = channel.map { "broadcasting to #\($0)…" } ?? "broadcasting to everyone…"
    return .broadcast(channel: channel, text: text)
}

/// Runs a `:` command line.
private func runCommand(_ line: String, state: inout ViewState, snapshot: DashboardSnapshot?) -> Effect {
    var (command, rest) = splitWord(trim(line))
    if command.hasPrefix(":") { command.removeFirst() }
    let arguments = rest.split(separator: " ").map(String.init)
    switch command.lowercased() {
    case "":
        return .none
    case "broadcast", "b", "bc":
        return broadcast(rest, state: &state)
    case "kick", "k":
        if arguments.first == "--all" {
            let reconnect = arguments.contains("--reconnect")
            if let bad = arguments.dropFirst().first(where: { $0 != "--reconnect" }) {
                state.status = "unknown option '\(bad)': use :kick --all [--reconnect]"
                return .none
            }
            state.status = reconnect ? "kicking every client (asked to reconnect)…" : "kicking every client…"
            return .kickAll(reconnect: reconnect)
        }
        if arguments.first == "--user" {
            let (_, afterOption) = splitWord(rest)
            let (user, reason) = splitWord(afterOption)
            guard !user.isEmpty else {
                state.status = "usage: :kick --user name [reason]"
                return .none
            }
            state.status = "closing every connection of \(user)…"
            return .kickUser(user: user, reason: reason.isEmpty ? defaultKickReason : reason)
        }
        guard !arguments.isEmpty else {
            state.status = "usage: :kick id [reason]  or  :kick --user name [reason]  or  :kick --all [--reconnect]"
            return .none
        }
        let (id, reason) = splitWord(rest)
        state.status = "kicking \(id)…"
        return .kick(clientID: id, reason: reason.isEmpty ? defaultKickReason : reason)
    case "theme":
        guard arguments.count == 1 else {
            state.status = "usage: :theme name (default, light, high-contrast, solarized-dark, monochrome)"
            return .none
        }
        state.themeName = arguments[0]
        return .setTheme(arguments[0])
    case "sort":
        guard let first = arguments.first, arguments.count <= 2 else {
            state.status = "usage: :sort column [desc] (\(sortNames))"
            return .none
        }
        guard
            let key = ClientQuery.SortKey(rawValue: first.lowercased())
                ?? ClientQuery.SortKey.allCases.first(where: { "\($0)".lowercased() == first.lowercased() })
        else {
            state.status = "unknown sort column '\(first)': use \(sortNames)"
            return .none
        }
        var descending = state.descending
        if arguments.count == 2 {
            switch arguments[1].lowercased() {
            case "desc", "descending": descending = true
            case "asc", "ascending": descending = false
            default:
                state.status = "sort order must be asc or desc, not '\(arguments[1])'"
                return .none
            }
        }
        setSort(key, descending: descending, state: &state)
    case "filter", "f":
        setFilter(rest, state: &state)
    case "channel", "ch":
        if let name = arguments.first {
            let name = name.hasPrefix("#") ? String(name.dropFirst()) : name
            guard ChannelName.isValid(name) else {
                state.status = "bad channel name '\(name)'"
                return .none
            }
            setChannel(name, state: &state)
        } else {
            setChannel(nil, state: &state)
        }
    case "trace", "tr":
        return traceCommand(arguments, state: &state)
    case "pause":
        state.paused.toggle()
        state.status = state.paused ? "paused (p resumes)" : "resumed"
    case "help", "h", "?":
        state.overlay = .help
    case "quit", "q", "exit":
        return quit(state: &state)
    default:
        state.status = "unknown command ':\(command)' (try :help)"
    }
    return .none
}

/// `:trace client|user|channel name`, or `:trace stop`.
private func traceCommand(_ arguments: [String], state: inout ViewState) -> Effect {
    if arguments == ["stop"] {
        guard state.trace != nil else {
            state.status = "no trace is open"
            return .none
        }
        state.closeTrace()
        state.status = "trace stopped"
        return .stopTrace
    }
    guard arguments.count == 2, var target = TraceTarget(kind: arguments[0].lowercased(), value: arguments[1]) else {
        state.status = "usage: :trace client id  |  :trace user name  |  :trace channel name  |  :trace stop"
        return .none
    }
    if case .channel(let name) = target {
        let name = name.hasPrefix("#") ? String(name.dropFirst()) : name
        guard ChannelName.isValid(name) else {
            state.status = "bad channel name '\(name)'"
            return .none
        }
        target = .channel(name)
    }
    return startTrace(target, state: &state)
}

private func startTrace(_ target: TraceTarget, state: inout ViewState) -> Effect {
    state.openTrace(target)
    return .startTrace(target)
}

/// Keys with a meaning of their own in the trace pane: `p` pauses it, `/` filters it, Esc ends
/// the trace. Nil for every other key (they do what they do everywhere).
private func handleTraceKey(_ key: Key, state: inout ViewState) -> Effect? {
    guard var pane = state.trace else { return nil }
    switch key {
    case .character("p"):
        pane.pausedAt = pane.pausedAt == nil ? pane.received : nil
        state.trace = pane
        state.status = pane.pausedAt == nil ? "trace resumed" : "trace paused (p resumes; lines keep arriving)"
        return Effect.none
    case .character("/"):
        state.overlay = .prompt(Prompt(kind: .traceFilter, text: pane.filter))
        return Effect.none
    case .escape:
        state.closeTrace()
        state.status = "trace stopped"
        return .stopTrace
    default:
        return nil
    }
}

private var sortNames: String { ClientQuery.SortKey.allCases.map(\.rawValue).joined(separator: ", ") }

private func quit(state: inout ViewState) -> Effect {
    if state.local {
        state.overlay = .confirm(.quit)
        return .none
    }
    return .quit(stopServer: false)
}

// MARK: Selection

private func setSort(_ key: ClientQuery.SortKey, descending: Bool, state: inout ViewState) {
    state.sort = key
    state.descending = descending
    resetClients(&state)
    state.status = "sorted by \(key.rawValue) \(descending ? "descending" : "ascending")"
}

private func setFilter(_ filter: String, state: inout ViewState) {
    state.filter = filter
    resetClients(&state)
    state.status = filter.isEmpty ? "filter cleared" : "filter: \(filter)"
}

private func setChannel(_ channel: String?, state: inout ViewState) {
    state.channel = channel
    resetClients(&state)
    state.status = channel.map { "clients on #\($0) (Esc clears)" } ?? "all channels"
}

private func resetClients(_ state: inout ViewState) {
    state.selection[.clients] = 0
    state.scroll[.clients] = 0
}

/// Rows a pane shows at the last known screen size.
private func page(_ pane: Pane, _ state: ViewState) -> Int {
    max(1, state.layout.bodyRows(pane))
}

private func count(_ pane: Pane, _ state: ViewState, _ snapshot: DashboardSnapshot?) -> Int {
    if pane == .trace { return state.trace?.shown.count ?? 0 }
    guard let snapshot else { return 0 }
    switch pane {
    case .clients: return snapshot.clients.total
    case .actors: return snapshot.actors.count
    case .channels: return snapshot.channels.count
    case .events: return snapshot.events.count
    case .trace: return 0
    }
}

/// PgDn / PgUp, as in htop and less: the window moves by a whole page and the selection moves
/// with it, keeping its place on the screen; at either end the window stops and the selection
/// goes to the first or last row.
private func turnPage(by pages: Int, state: inout ViewState, snapshot: DashboardSnapshot?) {
    let pane = state.focus
    // Events and trace lines are counted from the newest, at the bottom: a page up goes to older ones.
    let pages = pane.newestAtTheBottom ? -pages : pages
    let total = count(pane, state, snapshot)
    let rows = page(pane, state)
    let (scroll, selected) = ViewState.turnPage(
        by: pages, rows: rows, total: total, scroll: state.scroll[pane] ?? 0, selected: state.selected(pane))
    state.scroll[pane] = scroll
    state.selection[pane] = selected
}

/// Moves the focused pane's selection by `delta` rows on screen, keeping it visible.
private func move(by delta: Int, state: inout ViewState, snapshot: DashboardSnapshot?) {
    let pane = state.focus
    let last = max(0, count(pane, state, snapshot) - 1)
    // Events and trace lines are counted from the newest, at the bottom: moving up goes to older ones.
    let step = pane.newestAtTheBottom ? -delta : delta
    let selected = min(last, max(0, state.selected(pane).addingReportingOverflow(step).partialValue))
    state.selection[pane] = selected
    let rows = page(pane, state)
    var scroll = state.scroll[pane] ?? 0
    scroll = min(scroll, selected)
    scroll = max(scroll, selected - rows + 1)
    state.scroll[pane] = max(0, scroll)
}

private func cycleFocus(by step: Int, state: inout ViewState) {
    let layout = state.layout
    let panes = Pane.allCases.filter { layout.shows($0) }
    guard !panes.isEmpty else { return }
    let index = panes.firstIndex(of: state.focus) ?? 0
    state.focus = panes[(index + step + panes.count) % panes.count]
}

/// The client under the selection, if the snapshot's window holds it.
func selectedClient(_ state: ViewState, _ snapshot: DashboardSnapshot?) -> ClientRow? {
    guard let window = snapshot?.clients else { return nil }
    let index = state.selected(.clients) - window.offset
    return window.rows.indices.contains(index) ? window.rows[index] : nil
}

private func selectedChannel(_ state: ViewState, _ snapshot: DashboardSnapshot?) -> ChannelRow? {
    guard let channels = snapshot?.channels else { return nil }
    let index = state.selected(.channels)
    return channels.indices.contains(index) ? channels[index] : nil
}

// MARK: Text

func trim(_ text: String) -> String {
    guard let start = text.firstIndex(where: { $0 != " " && $0 != "\t" }),
        let end = text.lastIndex(where: { $0 != " " && $0 != "\t" })
    else { return "" }
    return String(text[start...end])
}

/// The first word of `text` and the rest, both trimmed.
func splitWord(_ text: String) -> (String, String) {
    let text = trim(text)
    guard let space = text.firstIndex(of: " ") else { return (text, "") }
    return (String(text[..<space]), trim(String(text[space...])))
}

extension Pane {
    /// Logs (events, trace lines) keep the newest at the bottom and count selection from it.
    var newestAtTheBottom: Bool { self == .events || self == .trace }
}
