public import ConsoleModel
public import ConsoleTerminal
import Foundation
public import Synchronization
import SwitchboardCore

/// The console's state: the view, the latest snapshot and the theme, shared between the UI
/// thread (which renders and handles keys) and the refresh task (which fetches snapshots).
///
/// Keys become ``Effect`` values (``ConsoleModel/handle(_:state:snapshot:)``); the controller
/// performs them: operator commands go to the ``DashboardSource``, whose answer becomes the
/// status line; in a replay, replay moves go to the ``ReplaySource``.
public final class ConsoleController: Sendable {
    /// The view, the snapshot on screen and the query it was made for, the client rows that fit.
    private let state: Mutex<(view: ViewState, snapshot: DashboardSnapshot?, snapshotQuery: ClientQuery?, visibleRows: Int)>
    private let currentTheme: Mutex<Theme>
    private let source: any DashboardSource
    private let themes: ThemeLibrary
    /// The recording being replayed (nil: live).
    private let replay: ReplaySource?
    /// Wakes the screen when a snapshot or status line arrives (and when ``stop`` is set).
    private let wake = ScreenWake()
    public let stop: StopFlag
    /// Set when the operator chose to stop the server on quit.
    public let stopServer = Atomic<Bool>(false)
    /// Counts changes made off the UI thread (snapshots, status lines): the screen redraws
    /// when it moves.
    private let version = Atomic<UInt64>(0)
    /// Refreshes are numbered; an answer older than the one on screen is not applied (a slow
    /// refresh started before a key must not replace the window the key asked for).
    private let refreshes = Mutex<(started: UInt64, applied: UInt64)>((0, 0))
    /// The task reading the open trace's stream, and its number: messages from a trace the
    /// operator already left are not applied.
    private let traceReader = Mutex<(task: Task<Void, Never>?, number: UInt64)>((nil, 0))

    /// `replay`: the console replays a recording (it is also the source); `status`: the status
    /// line to start with.
    public init(source: any DashboardSource, theme: Theme, themes: ThemeLibrary, local: Bool, replay: ReplaySource? = nil, status: String = "") {
        var view = ViewState()
        view.local = local
        view.replay = replay?.status
        view.status = status
        view.themeName = theme.name
        view.ascii = !ConsoleController.terminalIsUTF8
        self.state = Mutex((view, nil, nil, 20))
        self.currentTheme = Mutex(theme)
        self.source = source
        self.themes = themes
        self.replay = replay
        self.stop = StopFlag(waking: wake)
    }

    static var terminalIsUTF8: Bool {
        let environment = ProcessInfo.processInfo.environment
        let locale = environment["LC_ALL"] ?? environment["LC_CTYPE"] ?? environment["LANG"] ?? ""
        return locale.isEmpty || locale.uppercased().contains("UTF-8") || locale.uppercased().contains("UTF8")
    }

    /// Runs the UI until the operator quits or `stop` is set.
    public func run(colors: Bool) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.refreshLoop() }
            await TerminalScreen.run(
                TerminalScreen.Callbacks(
                    frame: { rows, cols in self.frame(rows: rows, cols: cols) },
                    key: { key in self.onKey(key) },
                    theme: { self.currentTheme.withLock { $0 } },
                    version: { self.version.load(ordering: .acquiring) },
                    wake: wake
                ),
                colors: colors,
                stop: stop
            )
            stop.set()
            stopFollowing()
            group.cancelAll()
        }
    }

    private func frame(rows: Int, cols: Int) -> Grid {
        state.withLock { state in
            state.visibleRows = ViewState.clientTableRows(
                rows: rows, cols: cols, nodes: state.view.clusterNodes, shards: state.view.clusterShards, tracing: state.view.trace != nil)
            state.view.screenRows = rows
            state.view.screenCols = cols
            state.view.now = state.view.replay?.time ?? WallClock.now()
            return renderDashboard(state.snapshot, state.view, rows: rows, cols: cols)
        }
    }

    /// Handles one key; false when the console should close.
    func onKey(_ key: Key) -> Bool {
        let (before, effect) = state.withLock { state in
            let before = state.view.clientQuery(visibleRows: state.visibleRows)
            return (before, ConsoleModel.handle(key, state: &state.view, snapshot: state.snapshot))
        }
        switch effect {
        case .none, .broadcast, .kick, .kickAll, .kickUser:
            if let command = effect.operatorCommand {
                Task {
                    let result = await source.perform(command)
                    setStatus(result.summary(of: command))
                    await refresh()
                }
            } else if viewChanged(from: before) {
                // A move, page, sort or filter: ask for the new window now instead of waiting
                // for the next refresh (the admin stream answers a view change with a snapshot).
                Task { await refresh() }
            }
            return true
        case .replay(let move):
            let status = replay?.move(move)
            state.withLock { $0.view.replay = status }
            changed()
            Task { await refresh() }
            return true
        case .quit(let stopServer):
            self.stopServer.store(stopServer, ordering: .relaxed)
            return false
        case .startTrace(let target):
            follow(target)
            return true
        case .stopTrace:
            stopFollowing()
            return true
        case .setTheme(let name):
            do {
                let theme = try themes.load(name)
                currentTheme.withLock { $0 = theme }
                setStatus("theme \(name)")
            } catch {
                let previous = currentTheme.withLock { $0.name }
                state.withLock {
                    $0.view.themeName = previous
                    $0.view.status = "\(error)"
                }
            }
            return true
        }
    }

    /// Reads `target`'s trace into the open trace pane (``ConsoleModel/handle(_:state:snapshot:)``
    /// opened it), ending the trace read before.
    private func follow(_ target: TraceTarget) {
        let stream = source.trace(target)
        traceReader.withLock { reader in
            reader.task?.cancel()
            reader.number += 1
            let number = reader.number
            reader.task = Task {
                for await message in stream {
                    let current = state.withLock { state in
                        guard self.traceReader.withLock({ $0.number }) == number else { return false }
                        state.view.receive(message)
                        return true
                    }
                    guard current else { return }
                    changed()
                }
            }
        }
        Task { await refresh() }
    }

    /// Ends the trace being read (the pane is already closed).
    private func stopFollowing() {
        traceReader.withLock { reader in
            reader.task?.cancel()
            reader.task = nil
            reader.number += 1
        }
        Task { await refresh() }
    }

    /// Whether the rows the view asks for differ from `query`, the ones it asked for before a key.
    private func viewChanged(from query: ClientQuery) -> Bool {
        state.withLock { $0.view.clientQuery(visibleRows: $0.visibleRows) != query }
    }

    private func setStatus(_ message: String) {
        state.withLock { $0.view.status = message }
        changed()
    }

    /// Tells the screen that what it draws changed.
    private func changed() {
        version.add(1, ordering: .releasing)
        wake.wake()
    }

    private func refreshLoop() async {
        while !Task.isCancelled && !stop.isSet {
            await refresh()
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func refresh() async {
        let (paused, query) = state.withLock { ($0.view.paused, $0.view.clientQuery(visibleRows: $0.visibleRows)) }
        guard !paused else { return }
        let ticket = refreshes.withLock { counts in
            counts.started += 1
            return counts.started
        }
        guard let snapshot = await source.snapshot(query: query) else { return }
        let newest = refreshes.withLock { counts in
            guard ticket > counts.applied else { return false }
            counts.applied = ticket
            return true
        }
        guard newest else { return }
        state.withLock { state in
            state.view.followSelectedClient(from: state.snapshot, madeFor: state.snapshotQuery, to: snapshot)
            state.view.fitNodesPane(to: snapshot.nodes)
            state.snapshot = snapshot
            state.snapshotQuery = query
            if let replay { state.view.replay = replay.status }
        }
        changed()
    }
}
