import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import SwitchboardCore
import SwitchboardServer
import ConsoleModel
import ConsoleRuntime
import ConsoleTerminal
import SwitchboardConfiguration

/// `switchboard serve`: runs the hub until SIGINT or SIGTERM, then drains it.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub (the default command).",
        discussion: """
            Serves WebSocket clients on ws://HOST:PORT/ws, health on /healthz, a protocol page on /, the admin API on /api (token required), /admin/stream and /metrics. In a terminal it also opens the operator console (press ? for keys); with --headless, or when stdout is not a terminal, it logs to stderr instead.

            SIGINT or SIGTERM stops accepting, delivers what is queued (up to --shutdown-timeout), closes every client with 1001 "going away" and exits 0. Invalid configuration prints one line naming the setting and exits with status 2.

            """ + ServerOptions.settingsHelp
    )

    @Flag(help: "Run without the terminal console: logs on stderr. (Also the default when stdout is not a terminal.)")
    var headless = false

    @Option(help: "Console theme: a name from themes/ or ~/.config/switchboard/themes/, or a path to a .theme file.")
    var theme = "default"

    @Option(help: "With the console: also write log lines to this file (they never go to the screen).")
    var logFile: String?

    @OptionGroup(title: "Recording (the console)")
    var recording: RecordOptions

    @OptionGroup(title: "Server")
    var options: ServerOptions

    func run() async throws {
        let settings: SwitchboardSettings
        do {
            let environment = ProcessInfo.processInfo.environment
            settings = try ConfigurationLoader().load(
                file: options.config ?? environment["SWITCHBOARD_CONFIG"],
                environment: environment,
                flags: options.given
            )
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("switchboard: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        let console = !headless && TerminalScreen.isInteractive
        if recording.path != nil && !console {
            FileHandle.standardError.write(Data("switchboard: --record records the console, which needs a terminal (and no --headless)\n".utf8))
            throw ExitCode(2)
        }
        var consoleTheme = Theme.builtIn
        if console {
            do {
                consoleTheme = try ThemeLibrary.standard().load(theme)
            } catch {
                FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let logger: Logger
        if console {
            logger = try LogFormat.fileLogger(path: logFile, format: settings.logFormat, level: settings.logLevel)
        } else {
            logger = settings.logFormat.makeLogger(level: settings.logLevel)
        }
        var configuration = settings.server

        let openFiles = SystemResources.raiseOpenFileLimit()
        let capacity = max(0, openFiles - 64)
        if configuration.hub.maxConnections > capacity {
            // The default means "as many as the system allows": lower it quietly (the listening
            // line shows the result). A value the operator chose gets a warning.
            let chosen = configuration.hub.maxConnections != HubConfiguration().maxConnections
            logger.log(
                level: chosen ? .warning : .debug,
                "max-connections lowered to what the open-files limit allows",
                metadata: ["requested": "\(configuration.hub.maxConnections)", "allowed": "\(capacity)", "nofile": "\(openFiles)"]
            )
            configuration.hub.maxConnections = capacity
        }
        if let refusal = await SwitchboardServer.nodeNameRefusal(configuration, logger: logger) {
            FileHandle.standardError.write(Data("switchboard: \(refusal)\n".utf8))
            throw ExitCode(2)
        }
        let listening = configuration
        let server = SwitchboardServer(configuration: configuration, logger: logger) { port in
            logger.info(
                "listening",
                metadata: [
                    "url": "\(listening.tls == nil ? "ws" : "wss")://\(listening.host):\(port)\(listening.webSocketPath)",
                    "threads": "\(listening.threads)",
                    "max_connections": "\(listening.hub.maxConnections)",
                    "open_files_limit": "\(openFiles)",
                    "version": "\(SwitchboardVersion.current)",
                ]
            )
        }
        var services = server.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        let recorder = try recording.recorder(
            server: "\(configuration.tls == nil ? "ws" : "wss")://\(configuration.host):\(configuration.port) (local)")
        defer { recorder?.closeAndReport() }
        if console {
            let local = LocalSource(hub: server.hub, collector: server.collector)
            let controller = ConsoleController(
                source: recorder.map { RecordingSource(recording: local, to: $0) } ?? local,
                theme: consoleTheme,
                themes: ThemeLibrary.standard(),
                local: true
            )
            let colors = ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
            services.append(
                .init(service: ConsoleService(controller: controller, colors: colors), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.error("server stopped", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.info("stopped")
    }
}
