import ConsoleModel
import SwitchboardCore
import Testing

@Suite struct InputTests {
    let snap = makeSnapshot(clients: 30)

    func press(_ keys: [Key], _ state: inout ViewState, snapshot: DashboardSnapshot? = nil) -> [Effect] {
        keys.map { handle($0, state: &state, snapshot: snapshot ?? snap) }
    }

    func type(_ text: String) -> [Key] { text.map { Key.character($0) } }

    @Test func arrowsAndJKMoveTheSelection() {
        var s = ViewState()
        _ = press([.down, .down, .character("j")], &s)
        #expect(s.selected(.clients) == 3)
        _ = press([.up, .character("k")], &s)
        #expect(s.selected(.clients) == 1)
        _ = press([.up, .up, .up], &s)
        #expect(s.selected(.clients) == 0)
    }

    @Test func pageKeysMoveTheWindowByAWholePage() {
        // 19 000 clients, 21 on screen: rows 1-21 -> 22-42, and back from 23-43 to 2-22.
        #expect(ViewState.turnPage(by: 1, rows: 21, total: 19_000, scroll: 0, selected: 0) == (21, 21))
        #expect(ViewState.turnPage(by: -1, rows: 21, total: 19_000, scroll: 22, selected: 22) == (1, 1))
        // The selection keeps its place on the screen.
        #expect(ViewState.turnPage(by: 1, rows: 21, total: 19_000, scroll: 100, selected: 107) == (121, 128))
        #expect(ViewState.turnPage(by: -1, rows: 21, total: 19_000, scroll: 100, selected: 107) == (79, 86))
        // The window stops at the ends; a page key at an end moves the selection there.
        #expect(ViewState.turnPage(by: 1, rows: 21, total: 50, scroll: 21, selected: 25) == (29, 33))
        #expect(ViewState.turnPage(by: 1, rows: 21, total: 50, scroll: 29, selected: 33) == (29, 49))
        #expect(ViewState.turnPage(by: -1, rows: 21, total: 50, scroll: 10, selected: 15) == (0, 5))
        #expect(ViewState.turnPage(by: -1, rows: 21, total: 50, scroll: 0, selected: 5) == (0, 0))
        // Fewer rows than a page, or none.
        #expect(ViewState.turnPage(by: 1, rows: 21, total: 7, scroll: 0, selected: 2) == (0, 6))
        #expect(ViewState.turnPage(by: 1, rows: 21, total: 0, scroll: 0, selected: 0) == (0, 0))
    }

    @Test func pageDownFromTheTopShowsTheNextPage() {
        var s = ViewState()
        s.screenRows = 50
        s.screenCols = 160
        let page = ViewState.clientTableRows(rows: 50, cols: 160)
        let snapshot = makeSnapshot(clients: 200, limit: 200)
        _ = handle(.pageDown, state: &s, snapshot: snapshot)
        #expect(s.scroll[.clients] == page && s.selected(.clients) == page)
        _ = handle(.pageDown, state: &s, snapshot: snapshot)
        #expect(s.scroll[.clients] == 2 * page)
        _ = handle(.pageUp, state: &s, snapshot: snapshot)
        #expect(s.scroll[.clients] == page && s.selected(.clients) == page)
    }

    @Test func pageKeysTurnTheEventsByAPageToo() {
        var s = ViewState()
        s.screenRows = 50
        s.screenCols = 160
        s.focus = .events
        var snapshot = makeSnapshot()
        let event = snapshot.events[0]
        snapshot.events = (0..<300).map { HubEvent(sequence: UInt64($0), time: event.time, kind: .connect, client: "c\($0)", detail: "") }
        _ = handle(.pageUp, state: &s, snapshot: snapshot)  // older: a page up from the newest
        let page = s.scroll[.events] ?? 0
        #expect(page > 1 && s.selected(.events) == page)
        _ = handle(.pageUp, state: &s, snapshot: snapshot)
        #expect(s.scroll[.events] == 2 * page && s.selected(.events) == 2 * page)
        _ = handle(.pageDown, state: &s, snapshot: snapshot)
        _ = handle(.pageDown, state: &s, snapshot: snapshot)
        #expect(s.scroll[.events] == 0 && s.selected(.events) == 0)
    }

    @Test func pageHomeAndEnd() {
        var s = ViewState()
        s.screenRows = 24
        s.screenCols = 80
        let page = ViewState.clientTableRows(rows: 24, cols: 80)
        _ = press([.pageDown], &s)
        #expect(s.selected(.clients) == page)
        _ = press([.pageUp], &s)
        #expect(s.selected(.clients) == 0)
        _ = press([.end], &s)
        #expect(s.selected(.clients) == 29)
        #expect(s.scroll[.clients] == 29 - page + 1)
        _ = press([.home], &s)
        #expect(s.selected(.clients) == 0)
        #expect(s.scroll[.clients] == 0)
        _ = press([.character("G")], &s)
        #expect(s.selected(.clients) == 29)
        _ = press([.character("g")], &s)
        #expect(s.selected(.clients) == 0)
    }

    @Test func clientQueryFollowsTheSelection() {
        var s = ViewState()
        s.sort = .rate
        s.descending = true
        s.filter = "10.0"
        s.selection[.clients] = 25
        let q = s.clientQuery(visibleRows: 10)
        #expect(q.offset == 16)
        #expect(q.limit == 10)
        #expect(q.sort == .rate && q.descending && q.filter == "10.0")
        s.selection[.clients] = 3
        s.scroll[.clients] = 2
        #expect(s.clientQuery(visibleRows: 10).offset == 2)
    }

    @Test func tabCyclesPanes() {
        var s = ViewState()
        _ = press([.tab], &s)
        #expect(s.focus == .actors)
        _ = press([.tab, .tab], &s)
        #expect(s.focus == .events)
        _ = press([.tab], &s)
        #expect(s.focus == .clients)
        _ = press([.backTab], &s)
        #expect(s.focus == .events)
        // The minimal layout shows only the client table.
        s.screenRows = 10
        s.screenCols = 40
        _ = press([.tab], &s)
        #expect(s.focus == .clients)
    }

    @Test func movingInOtherPanesIsClamped() {
        var s = ViewState()
        s.focus = .actors
        _ = press([.down, .down, .down, .down], &s)
        #expect(s.selected(.actors) == 2)
        s.focus = .events
        _ = press([.up, .up], &s)  // older
        #expect(s.selected(.events) == 2)
        _ = press([.end], &s)  // newest
        #expect(s.selected(.events) == 0)
    }

    @Test func enterOpensDetailAndEscCloses() {
        var s = ViewState()
        _ = press([.down, .enter], &s)
        #expect(s.overlay == .detail(clientID: "c2"))
        _ = press([.escape], &s)
        #expect(s.overlay == nil)
    }

    @Test func enterOnAChannelFiltersClients() {
        var s = ViewState()
        s.focus = .channels
        _ = press([.enter], &s)
        #expect(s.channel == "news")
        #expect(s.focus == .clients)
        #expect(s.clientQuery(visibleRows: 5).channel == "news")
        _ = press([.escape], &s)
        #expect(s.channel == nil)
    }

    @Test func broadcastPrompt() {
        var s = ViewState()
        _ = press([.character("b")], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .broadcast, text: "")))
        _ = press(type("hello x") + [.backspace], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .broadcast, text: "hello ")))
        let effects = press([.character("!"), .enter], &s)
        #expect(effects.last == .broadcast(channel: nil, text: "hello !"))
        #expect(s.overlay == nil)
    }

    @Test func broadcastToAChannel() {
        var s = ViewState()
        let effects = press([.character("b")] + type("#news big news") + [.enter], &s)
        #expect(effects.last == .broadcast(channel: "news", text: "big news"))
        _ = press([.character("b")] + type("#bad!name hi") + [.enter], &s)
        #expect(s.status.contains("bad channel name"))
        s.focus = .channels
        _ = press([.down, .character("b")], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .broadcast, text: "#chat ")))
    }

    @Test func emptyBroadcastDoesNothing() {
        var s = ViewState()
        let effects = press([.character("b"), .enter], &s)
        #expect(effects.last == Effect.none)
        #expect(s.status == "nothing to broadcast")
    }

    @Test func kickAsksForAReasonThenConfirms() {
        var s = ViewState()
        _ = press([.down, .down, .character("K")], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .kickReason(clientID: "c3"))))
        _ = press(type("spam") + [.enter], &s)
        #expect(s.overlay == .confirm(.kick(clientID: "c3", reason: "spam")))
        let effects = press([.character("y")], &s)
        #expect(effects == [.kick(clientID: "c3", reason: "spam")])
        #expect(s.overlay == nil)
    }

    @Test func kickCanBeCancelledAndHasADefaultReason() {
        var s = ViewState()
        _ = press([.character("K"), .enter], &s)
        #expect(s.overlay == .confirm(.kick(clientID: "c1", reason: "kicked by operator")))
        let effects = press([.character("n")], &s)
        #expect(effects == [Effect.none])
        #expect(s.overlay == nil)
        _ = press([.character("K"), .escape], &s)
        #expect(s.overlay == nil)
        s.focus = .actors
        _ = press([.character("K")], &s)
        #expect(s.overlay == nil)
        #expect(!s.status.isEmpty)
    }

    @Test func kickFromTheDetailView() {
        var s = ViewState()
        _ = press([.enter, .character("K")], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .kickReason(clientID: "c1"))))
    }

    @Test func kickTheUserFromTheDetailView() {
        var snapshot = snap
        snapshot.clients.rows[0].user = "ann"
        var s = ViewState()
        _ = press([.enter, .character("U")], &s, snapshot: snapshot)
        #expect(s.overlay == .prompt(Prompt(kind: .kickUserReason(user: "ann"))))
        _ = press(type("closed") + [.enter], &s, snapshot: snapshot)
        #expect(s.overlay == .confirm(.kickUser(user: "ann", reason: "closed")))
        #expect(press([.character("y")], &s, snapshot: snapshot) == [.kickUser(user: "ann", reason: "closed")])
        // A client without a user says so instead.
        s = ViewState()
        _ = press([.enter, .character("U")], &s)
        #expect(s.overlay == .detail(clientID: "c1"))
        #expect(s.status.contains("no user"))
    }

    func command(_ line: String, _ s: inout ViewState) -> Effect {
        press([.character(":")] + type(line) + [.enter], &s).last!
    }

    @Test func commandLine() {
        var s = ViewState()
        _ = press([.character(":")], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .command)))
        _ = press([.escape], &s)
        #expect(command("broadcast hello all", &s) == .broadcast(channel: nil, text: "hello all"))
        #expect(command("broadcast #news  hi there", &s) == .broadcast(channel: "news", text: "hi there"))
        #expect(command("kick c7", &s) == .kick(clientID: "c7", reason: "kicked by operator"))
        #expect(command("kick c7 too noisy", &s) == .kick(clientID: "c7", reason: "too noisy"))
        #expect(command("kick --all", &s) == .kickAll(reconnect: false))
        #expect(command("kick --all --reconnect", &s) == .kickAll(reconnect: true))
        #expect(command("kick --user ann", &s) == .kickUser(user: "ann", reason: "kicked by operator"))
        #expect(command("kick --user ann account closed", &s) == .kickUser(user: "ann", reason: "account closed"))
        #expect(Effect.kickUser(user: "ann", reason: "r").operatorCommand == .kick(.user("ann"), reason: "r", reconnect: false))
        #expect(command("theme light", &s) == .setTheme("light"))
        #expect(s.themeName == "light")
        #expect(command("sort msgs_in", &s) == Effect.none)
        #expect(s.sort == .messagesIn)
        #expect(command("sort mailbox desc", &s) == Effect.none)
        #expect(s.sort == .mailbox && s.descending)
        #expect(command("quit", &s) == .quit(stopServer: false))
        #expect(command("", &s) == Effect.none)
        #expect(s.overlay == nil)
    }

    @Test func commandErrorsAreClear() {
        var s = ViewState()
        #expect(command("frobnicate now", &s) == Effect.none)
        #expect(s.status == "unknown command ':frobnicate' (try :help)")
        _ = command("sort colour", &s)
        #expect(s.status.hasPrefix("unknown sort column 'colour'"))
        #expect(s.status.contains("msgs_in"))
        _ = command("kick", &s)
        #expect(s.status.hasPrefix("usage: :kick"))
        _ = command("kick --user", &s)
        #expect(s.status == "usage: :kick --user name [reason]")
        _ = command("kick --all --bogus", &s)
        #expect(s.status.contains("--bogus"))
        _ = command("theme", &s)
        #expect(s.status.hasPrefix("usage: :theme"))
    }

    @Test func everySortKeyWorksAsACommand() {
        for key in ClientQuery.SortKey.allCases {
            var s = ViewState()
            _ = command("sort \(key.rawValue)", &s)
            #expect(s.sort == key)
        }
    }

    @Test func filterPromptAppliesOnEnter() {
        var s = ViewState()
        _ = press([.down, .down, .character("/")] + type("chat"), &s)
        #expect(s.filter == "")
        #expect(s.overlay == .prompt(Prompt(kind: .filter, text: "chat")))
        _ = press([.enter], &s)
        #expect(s.filter == "chat")
        #expect(s.selected(.clients) == 0)
        #expect(s.clientQuery(visibleRows: 5).filter == "chat")
        _ = press([.character("/")], &s)
        #expect(s.overlay == .prompt(Prompt(kind: .filter, text: "chat")))
        _ = press([.escape, .escape], &s)
        #expect(s.filter == "")
    }

    @Test func sortCyclesAndReverses() {
        var s = ViewState()
        let keys = ClientQuery.SortKey.allCases
        for i in 1...keys.count {
            _ = press([.character("s")], &s)
            #expect(s.sort == keys[i % keys.count])
        }
        _ = press([.character("S")], &s)
        #expect(s.descending)
        _ = press([.character("S")], &s)
        #expect(!s.descending)
    }

    @Test func pauseAndHelp() {
        var s = ViewState()
        _ = press([.character("p")], &s)
        #expect(s.paused)
        _ = press([.character("p")], &s)
        #expect(!s.paused)
        _ = press([.character("?")], &s)
        #expect(s.overlay == .help)
        let effects = press([.character("q")], &s)  // closes help, does not quit
        #expect(effects == [Effect.none])
        #expect(s.overlay == nil)
    }

    @Test func quitAttachedIsImmediate() {
        var s = ViewState()
        #expect(press([.character("q")], &s) == [.quit(stopServer: false)])
    }

    @Test func quitLocalAsksFirst() {
        var s = ViewState()
        s.local = true
        #expect(press([.character("q")], &s) == [Effect.none])
        #expect(s.overlay == .confirm(.quit))
        #expect(press([.character("x")], &s) == [Effect.none])
        #expect(s.overlay == .confirm(.quit))
        #expect(press([.character("n")], &s) == [Effect.none])
        #expect(s.overlay == nil)
        _ = press([.character("q")], &s)
        #expect(press([.character("y")], &s) == [.quit(stopServer: true)])
        _ = press([.character("q"), .escape], &s)
        #expect(s.overlay == nil)
    }

    @Test func resizeAndNoSnapshotAreHarmless() {
        var s = ViewState()
        #expect(handle(.resize, state: &s, snapshot: nil) == Effect.none)
        #expect(handle(.down, state: &s, snapshot: nil) == Effect.none)
        #expect(s.selected(.clients) == 0)
        #expect(handle(.enter, state: &s, snapshot: nil) == Effect.none)
        #expect(s.overlay == nil)
    }

    @Test func escapeClosesAnyOverlay() {
        for overlay in [Overlay.help, .detail(clientID: "c1"), .prompt(Prompt(kind: .command, text: "x")), .confirm(.quit)] {
            var s = ViewState()
            s.overlay = overlay
            _ = handle(.escape, state: &s, snapshot: snap)
            #expect(s.overlay == nil)
        }
    }
}

@Suite struct SelectionFollowsTests {
    @Test func theSelectionStaysOnItsClientWhenRowsReorder() {
        var s = ViewState()
        let before = makeSnapshot(clients: 10, limit: 10)
        s.selection[.clients] = 3
        let id = before.clients.rows[3].id
        var after = before
        after.clients.rows.swapAt(3, 7)
        s.followSelectedClient(from: before, madeFor: s.clientQuery(visibleRows: 10), to: after)
        #expect(s.selected(.clients) == 7)
        #expect(after.clients.rows[s.selected(.clients)].id == id)
        #expect(s.status.isEmpty)
    }

    /// A sort or filter just chosen puts the selection at the top: the snapshot made for the
    /// order before it has nothing for the selection to follow.
    @Test func aNewOrderIsNotFollowedFromTheOldOne() {
        var s = ViewState()
        let before = makeSnapshot(clients: 10, limit: 10)
        let oldOrder = s.clientQuery(visibleRows: 10)
        var after = before
        after.clients.rows.reverse()
        _ = handle(.character("S"), state: &s, snapshot: before)
        #expect(s.selected(.clients) == 0)
        s.followSelectedClient(from: before, madeFor: oldOrder, to: after)
        #expect(s.selected(.clients) == 0 && !s.status.contains("no longer on screen"), "\(s.status)")
        // Within one order the selection follows its client.
        let newOrder = s.clientQuery(visibleRows: 10)
        s.followSelectedClient(from: after, madeFor: newOrder, to: before)
        #expect(s.selected(.clients) == 9)
    }

    @Test func aClientThatLeftTheWindowIsSaidToHaveMoved() {
        var s = ViewState()
        let before = makeSnapshot(clients: 10, limit: 10)
        s.selection[.clients] = 2
        let id = before.clients.rows[2].id
        var after = before
        after.clients.rows.remove(at: 2)
        s.followSelectedClient(from: before, madeFor: s.clientQuery(visibleRows: 10), to: after)
        #expect(s.selected(.clients) == 2)
        #expect(s.status.contains(id) && s.status.contains("no longer on screen"))
    }
}
