import ArgumentParser
import ConsoleModel
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
        let controller = ConsoleController(source: source, theme: chosenTheme, themes: ThemeLibrary.standard(), local: false)
        let colors = ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
        await withDiscardingTaskGroup { group in
            group.addTask { await source.run(until: controller.stop) }
            await controller.run(colors: colors)
            group.cancelAll()
        }
    }
}

/// The admin-stream source: keeps the latest pushed snapshot, tells the server which rows to
/// send when the view changes, and turns console actions into stream commands.
final class RemoteSource: DashboardSource {
    let url: String
    let token: String
    private let latest = Mutex<DashboardSnapshot?>(nil)
    private let writer = Mutex<WebSocketOutboundWriter?>(nil)
    private let sentQuery = Mutex<ClientQuery?>(nil)
    private let status = Mutex("connecting…")
    private let nextID = Atomic<Int>(0)

    init(url: String, token: String) {
        self.url = url
        self.token = token
    }

    /// Stays connected (reconnecting with backoff) until `stop` is set.
    func run(until stop: StopFlag) async {
        var logger = Logger(label: "attach")
        logger.logLevel = .critical
        var backoff = Duration.milliseconds(250)
        while !stop.isSet && !Task.isCancelled {
            do {
                let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 24, additionalHeaders: [.authorization: "Bearer \(token)"])
                _ = try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                    self.writer.withLock { $0 = outbound }
                    self.sentQuery.withLock { $0 = nil }
                    self.status.withLock { $0 = "connected" }
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .text(let text) = message else { continue }
                        self.receive(text)
                    }
                }
            } catch {
                status.withLock { $0 = "disconnected: \(error)" }
            }
            writer.withLock { $0 = nil }
            latest.withLock { $0 = nil }
            // Back off while the server stays away; a session that got connected starts over.
            let wasConnected = status.withLock { $0 == "connected" }
            backoff = wasConnected ? .milliseconds(250) : min(backoff * 2, .seconds(5))
            try? await Task.sleep(for: backoff)
        }
    }

    private func receive(_ text: String) {
        let data = Data(text.utf8)
        guard let object = try? JSONObject(parsing: Array(data)) else { return }
        switch object.string("type") {
        case "snapshot":
            if let raw = object.raw("snapshot"), let snapshot = try? AdminClient.decoder.decode(DashboardSnapshot.self, from: Data(raw)) {
                latest.withLock { $0 = snapshot }
            }
        case "result":
            let ok = object.bool("ok") ?? false
            let detail = object.string("error") ?? object.int("reached").map { "reached \($0)" } ?? object.int("kicked").map { "kicked \($0)" } ?? ""
            status.withLock { $0 = ok ? detail : "error: \(detail)" }
        default:
            break
        }
    }

    func snapshot(query: ClientQuery) async -> DashboardSnapshot? {
        if sentQuery.withLock({ $0 }) != query, let writer = writer.withLock({ $0 }) {
            let encoded = (try? AdminAPI.encodeQuery(query)) ?? "{}"
            try? await writer.write(.text("{\"type\":\"view\",\"interval_ms\":500,\"query\":\(encoded)}"))
            sentQuery.withLock { $0 = query }
        }
        return latest.withLock { $0 }
    }

    func perform(_ effect: Effect) async -> String {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let command: String
        switch effect {
        case .broadcast(let channel, let text):
            command =
                "{\"type\":\"broadcast\",\"id\":\(id),\"data\":\(JSONText.quoted(text))"
                + (channel.map { ",\"channel\":\(JSONText.quoted($0))" } ?? "") + "}"
        case .kick(let client, let reason):
            command = "{\"type\":\"kick\",\"id\":\(id),\"client\":\(JSONText.quoted(client)),\"reason\":\(JSONText.quoted(reason))}"
        case .kickAll(let reconnect):
            command = "{\"type\":\"kick\",\"id\":\(id),\"all\":true,\"reconnect\":\(reconnect)}"
        default:
            return ""
        }
        guard let writer = writer.withLock({ $0 }) else { return "not connected" }
        do {
            try await writer.write(.text(command))
        } catch {
            return "not sent: \(error)"
        }
        try? await Task.sleep(for: .milliseconds(300))
        return status.withLock { $0 }
    }
}
