import ArgumentParser
import SwitchboardCore
import SwitchboardServer

/// `switchboard`: a real-time WebSocket hub and its own operator console, in one binary.
@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A real-time WebSocket hub with its own operator console.",
        discussion: """
            With no subcommand, `switchboard` runs `serve`: the hub on ws://127.0.0.1:8080/ws.
            Clients speak a compact JSON protocol (subscribe, unsubscribe, publish, ping); the page at
            http://127.0.0.1:8080/ describes it. Every server flag is also an environment variable
            (SWITCHBOARD_<FLAG>) and a key in the --config TOML file; flags beat environment beat file.

            Examples:
              switchboard                               serve on 127.0.0.1:8080
              switchboard serve --host 0.0.0.0 --port 9000 --log-format json
              switchboard bench fanout --subscribers 1000 --size 64 --duration 10
            """,
        version: SwitchboardVersion.current,
        subcommands: [Serve.self, Attach.self, Stats.self, Clients.self, Channels.self, Actors.self, Events.self, Broadcast.self, Publish.self, Kick.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}
