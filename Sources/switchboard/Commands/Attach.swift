import ArgumentParser
import ConsoleModel
import ConsoleRuntime
import ConsoleTerminal
import Foundation
import HTTPTypes
import Logging
import Synchronization
import SwitchboardCore
import SwitchboardServer
import WSClient

/// `switchboard attach [URL]`: the console on a remote (usually headless) server, through its
/// authenticated admin stream.
struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the operator console on a running server through its admin stream.",
        discussion:
            "The server sends only the rows being viewed. Token: --token, then SWITCHBOARD_ADMIN_TOKEN, then the server's state file for that port (when on the same machine)."
    )

    @Argument(help: "The server, e.g. http://127.0.0.1:8080 (ws:// works too).")
    var url = "http://127.0.0.1:8080"
    @Option(help: "Admin token.")
    var token: String?
    @Option(help: "Console theme: a name from themes/ or ~/.config/switchboard/themes/, or a path.")
    var theme = "default"
    @OptionGroup(title: "Recording")
    var recording: RecordOptions

    func run() async throws {
        guard TerminalScreen.isInteractive else {
            FileHandle.standardError.write(Data("switchboard: attach needs a terminal\n".utf8))
            throw ExitCode(2)
        }
        guard var components = URLComponents(string: url), let host = components.host else {
            FileHandle.standardError.write(Data("switchboard: not a server URL: \(url)\n".utf8))
            throw ExitCode(2)
        }
        let secure = components.scheme == "https" || components.scheme == "wss"
        components.scheme = secure ? "wss" : "ws"
        components.path = "/admin/stream"
        let port = components.port ?? (secure ? 443 : 80)
        guard let token = token ?? ProcessInfo.processInfo.environment["SWITCHBOARD_ADMIN_TOKEN"] ?? AdminToken.fromStateFile(port: port) else {
            FileHandle.standardError.write(
                Data("switchboard: no admin token for \(host):\(port): pass --token or set SWITCHBOARD_ADMIN_TOKEN\n".utf8))
            throw ExitCode(2)
        }
        let chosenTheme: Theme
        do {
            chosenTheme = try ThemeLibrary.standard().load(theme)
        } catch {
            FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let source = RemoteSource(url: components.string!, token: token)
        let recorder = try recording.recorder(server: url)
        let controller = ConsoleController(
            source: recorder.map { RecordingSource(recording: source, to: $0) } ?? source, theme: chosenTheme, themes: ThemeLibrary.standard(),
            local: false)
        let colors = ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
        await withDiscardingTaskGroup { group in
            group.addTask { await source.run(until: controller.stop) }
            await controller.run(colors: colors)
            group.cancelAll()
        }
        recorder?.closeAndReport()
    }
}
