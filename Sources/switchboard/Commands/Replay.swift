import ArgumentParser
import ConsoleModel
import ConsoleRuntime
import ConsoleTerminal
import Foundation
import SwitchboardCore

/// `switchboard replay FILE`: the console on a recording, or one screen of it as text.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recorded console session (from --record), or print one moment of it as text.",
        discussion: """
            Opens the same console on the recording, playing in real time from the start (or from --at). The header says "replay" and the recording's time. Space pauses and plays, ← → step one beat (one recorded snapshot), [ ] jump a minute, g G go to the start and the end; panes, sorting, filters and client details work as live, on the clients the recorded console was showing. Operator actions (broadcast, kick) are refused.

            With --dump, prints the screen at --at (default: the last moment) to stdout, no terminal needed: what a support ticket can carry. TIME is a UTC time of day (03:12:05, on the recording's day), an ISO time (2026-12-07T03:12:05Z) or an offset from the start (+90s, +2m, +1h30m).

            A recording that is cut short or damaged opens up to the damage and says where. A file that is not a recording, or one of a newer format, is refused with exit status 2.

            Examples:
              switchboard replay incident.jsonl.gz
              switchboard replay incident.jsonl.gz --at 03:12:05 --dump > screen.txt
              switchboard replay incident.jsonl.gz --at +90s --dump --size 160x50
            """
    )

    @Argument(help: "The recording (written by --record).")
    var file: String
    @Option(help: ArgumentHelp("The moment to start at or to dump: 03:12:05 (UTC), an ISO time, or +90s from the start.", valueName: "time"))
    var at: String?
    @Flag(help: "Print the screen at --at as text and exit (no terminal needed).")
    var dump = false
    @Option(help: ArgumentHelp("The screen size for --dump, COLSxROWS.", valueName: "size"))
    var size = "120x40"
    @Flag(help: "With --dump: ASCII only (no box drawing or sparkline blocks).")
    var ascii = false
    @Option(help: "Console theme: a name from themes/ or ~/.config/switchboard/themes/, or a path.")
    var theme = "default"

    func run() async throws {
        let recording: Recording
        do {
            recording = try Recording(path: file)
        } catch {
            fail("\(error)")
        }
        guard let first = recording.beatTimes.first else {
            fail("\(file) has no snapshots\(recording.damage.map { " (\($0))" } ?? "")")
        }
        var time: Double?
        if let at {
            do {
                time = try ReplayTime.parse(at, start: first)
            } catch {
                fail("\(error)")
            }
        }
        if dump {
            try await self.dump(recording, at: time ?? recording.beatTimes.last ?? first)
        } else {
            try await console(recording, at: time)
        }
    }

    private func dump(_ recording: Recording, at time: Double) async throws {
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let cols = Int(parts[0]), let rows = Int(parts[1]), (20...1000).contains(cols), (5...1000).contains(rows) else {
            fail("bad --size '\(size)': use COLSxROWS, e.g. 120x40")
        }
        if let damage = recording.damage { FileHandle.standardError.write(Data("switchboard: \(damage)\n".utf8)) }
        let source = ReplaySource(recording: recording, at: time, playing: false)
        var view = ViewState()
        view.replay = source.status
        view.now = source.status.time
        view.ascii = ascii
        view.screenRows = rows
        view.screenCols = cols
        let snapshot = await source.snapshot(query: view.clientQuery(visibleRows: ViewState.clientTableRows(rows: rows, cols: cols)))
        view.fitNodesPane(to: snapshot?.nodes)
        let grid = renderDashboard(snapshot, view, rows: rows, cols: cols)
        print(grid.lines.joined(separator: "\n"))
    }

    private func console(_ recording: Recording, at time: Double?) async throws {
        guard TerminalScreen.isInteractive else { fail("replay needs a terminal (or --dump to print a screen)") }
        let chosenTheme: Theme
        do {
            chosenTheme = try ThemeLibrary.standard().load(theme)
        } catch {
            fail("\(error)")
        }
        let source = ReplaySource(recording: recording, at: time)
        let controller = ConsoleController(
            source: source, theme: chosenTheme, themes: ThemeLibrary.standard(), local: false, replay: source,
            status: recording.damage.map(\.description) ?? "")
        let colors = ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
        await controller.run(colors: colors)
    }

    /// One line on stderr, exit status 2.
    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("switchboard: \(message)\n".utf8))
        Replay.exit(withError: ExitCode(2))
    }
}
