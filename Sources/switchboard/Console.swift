import ConsoleModel
import ConsoleTerminal
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import SwitchboardCore
import SwitchboardServer

/// Where the console's data comes from and where its commands go: the hub in this process, or a
/// remote server's admin stream. The console itself does not know which.
protocol DashboardSource: Sendable {
    /// The latest snapshot with the rows `query` asks for (nil while not connected).
    func snapshot(query: ClientQuery) async -> DashboardSnapshot?
    /// Performs an operator action; returns a line for the status bar.
    func perform(_ effect: Effect) async -> String
}

/// The in-process source: reads the metrics collector, acts on the hub directly.
struct LocalSource: DashboardSource {
    let hub: Hub
    let collector: MetricsCollector

    func snapshot(query: ClientQuery) async -> DashboardSnapshot? {
        await collector.snapshot(query: query)
    }

    func perform(_ effect: Effect) async -> String {
        switch effect {
        case .broadcast(let channel, let text):
            let data = ByteBuffer(string: JSONText.quoted(text))
            if let channel {
                let (_, reached) = await hub.publish(channel: channel, data: data, from: "operator")
                return "broadcast to #\(channel): reached \(reached) subscribers"
            }
            return "broadcast: reached \(await hub.broadcast(data: data)) clients"
        case .kick(let id, let reason):
            return await hub.kick(id, reason: reason) ? "kicked \(id) (4000 \(reason))" : "no client \(id)"
        case .kickAll(let reconnect):
            let kicked = await hub.kickAll(reason: reconnect ? "reconnect" : "kicked by operator", code: reconnect ? .reconnect : .kicked)
            return "kicked \(kicked) clients"
        default:
            return ""
        }
    }
}

/// The console's state: the view, the latest snapshot and the theme, shared between the UI
/// thread (which renders and handles keys) and the refresh task (which fetches snapshots).
final class ConsoleController: Sendable {
    private let state: Mutex<(view: ViewState, snapshot: DashboardSnapshot?, visibleRows: Int)>
    private let currentTheme: Mutex<Theme>
    private let source: any DashboardSource
    private let themes: ThemeLibrary
    let stop = StopFlag()
    /// Set when the operator chose to stop the server on quit.
    let stopServer = Atomic<Bool>(false)

    init(source: any DashboardSource, theme: Theme, themes: ThemeLibrary, local: Bool) {
        var view = ViewState()
        view.local = local
        view.themeName = theme.name
        view.ascii = !ConsoleController.terminalIsUTF8
        self.state = Mutex((view, nil, 20))
        self.currentTheme = Mutex(theme)
        self.source = source
        self.themes = themes
    }

    static var terminalIsUTF8: Bool {
        let environment = ProcessInfo.processInfo.environment
        let locale = environment["LC_ALL"] ?? environment["LC_CTYPE"] ?? environment["LANG"] ?? ""
        return locale.isEmpty || locale.uppercased().contains("UTF-8") || locale.uppercased().contains("UTF8")
    }

    /// Runs the UI until the operator quits or `stop` is set.
    func run(colors: Bool) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.refreshLoop() }
            await TerminalScreen.run(
                TerminalScreen.Callbacks(
                    frame: { rows, cols in self.frame(rows: rows, cols: cols) },
                    key: { key in self.onKey(key) },
                    theme: { self.currentTheme.withLock { $0 } }
                ),
                colors: colors,
                stop: stop
            )
            stop.set()
            group.cancelAll()
        }
    }

    private func frame(rows: Int, cols: Int) -> Grid {
        state.withLock { state in
            state.visibleRows = ViewState.clientTableRows(rows: rows, cols: cols)
            state.view.screenRows = rows
            state.view.screenCols = cols
            state.view.now = WallClock.now()
            return renderDashboard(state.snapshot, state.view, rows: rows, cols: cols)
        }
    }

    private func onKey(_ key: Key) -> Bool {
        let effect = state.withLock { state in ConsoleModel.handle(key, state: &state.view, snapshot: state.snapshot) }
        switch effect {
        case .none:
            return true
        case .quit(let stopServer):
            self.stopServer.store(stopServer, ordering: .relaxed)
            return false
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
        default:
            Task {
                let message = await source.perform(effect)
                setStatus(message)
                await refresh()
            }
            return true
        }
    }

    private func setStatus(_ message: String) {
        state.withLock { $0.view.status = message }
    }

    private func refreshLoop() async {
        while !Task.isCancelled && !stop.isSet {
            await refresh()
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func refresh() async {
        let (paused, query) = state.withLock { ($0.view.paused, $0.view.clientQuery(visibleRows: $0.visibleRows)) }
        guard !paused, let snapshot = await source.snapshot(query: query) else { return }
        state.withLock { $0.snapshot = snapshot }
    }
}

/// Finds themes: `~/.config/switchboard/themes/NAME.theme`, then the `themes/` folder next to the
/// binary's package, then the built-in default.
struct ThemeLibrary: Sendable {
    let directories: [String]

    static func standard() -> ThemeLibrary {
        var directories: [String] = []
        let environment = ProcessInfo.processInfo.environment
        if let config = environment["XDG_CONFIG_HOME"] { directories.append("\(config)/switchboard/themes") }
        if let home = environment["HOME"] { directories.append("\(home)/.config/switchboard/themes") }
        directories.append(FileManager.default.currentDirectoryPath + "/themes")
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            directories.append(folder.appendingPathComponent("themes").path)
            folder = folder.deletingLastPathComponent()
        }
        return ThemeLibrary(directories: directories)
    }

    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "no theme named \(name) (looked for \(name).theme in ~/.config/switchboard/themes and themes/)" }
    }

    /// Loads a theme by name or path; a bad file is an error naming the file and line.
    func load(_ name: String) throws -> Theme {
        if name == "default" && !directories.contains(where: { FileManager.default.fileExists(atPath: "\($0)/default.theme") }) {
            return Theme.builtIn
        }
        let candidates = name.contains("/") ? [name] : directories.map { "\($0)/\(name).theme" }
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            do {
                return try Theme(parsing: text, name: name)
            } catch {
                throw ConfigurationError(description: "\(path):\(error.line): \(error.message)")
            }
        }
        throw Missing(name: name)
    }
}

/// Runs the console as a service: quitting it ends the process; SIGINT/SIGTERM end it too.
struct ConsoleService: Service {
    let controller: ConsoleController
    let colors: Bool

    func run() async throws {
        await withGracefulShutdownHandler {
            await controller.run(colors: colors)
        } onGracefulShutdown: {
            controller.stop.set()
        }
    }
}
