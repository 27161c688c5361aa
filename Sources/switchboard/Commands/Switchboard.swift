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
            With no subcommand, `switchboard` runs `serve`: the hub on ws://127.0.0.1:8080/ws, with the live operator console when stdout is a terminal (headless otherwise). Clients speak a compact JSON protocol (subscribe, unsubscribe, publish, presence, ping); http://127.0.0.1:8080/ describes it and lets you try it. With --pusher-app ID:KEY:SECRET (or [[apps]] in the config file) it also serves the Pusher Channels protocol: clients on /app/KEY, the signed HTTP API under /apps/ID/, webhooks. Every server flag is also an environment variable (SWITCHBOARD_<FLAG>) and a key in the --config TOML file; flags beat environment beat file.

            Operators: `attach` opens the console on a running server (`--record FILE` keeps what it shows, `replay FILE` plays it back); `stats`, `clients`, `channels`, `actors`, `events`, `broadcast`, `publish` and `kick` act on it from scripts, and `trace` follows one client, user or channel live (token from --token, SWITCHBOARD_ADMIN_TOKEN or the server's state file).

            Examples:
              switchboard                      serve on 127.0.0.1:8080, console on
              switchboard serve --headless --host 0.0.0.0 --log-format json
              switchboard serve --pusher-app 4242:my-key:my-secret-0123456789
              switchboard attach http://10.0.0.5:8080 --token $TOKEN --record incident.jsonl.gz
              switchboard replay incident.jsonl.gz --at +90s --dump
              switchboard kick c1f --reason "abuse"
              switchboard trace --client c1f
              switchboard bench fanout --subscribers 1000 --size 64 --duration 10
            """,
        version: SwitchboardVersion.current,
        subcommands: [
            Serve.self, Attach.self, Stats.self, Clients.self, Channels.self, Actors.self, Events.self, Broadcast.self, Publish.self, Kick.self,
            Trace.self, Bench.self, Replay.self,
        ],
        defaultSubcommand: Serve.self
    )
}
