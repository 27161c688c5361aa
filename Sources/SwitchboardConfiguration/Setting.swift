public import Foundation
public import Logging
public import SwitchboardCore
public import SwitchboardServer
import RedisClient
import TOMLKit

/// Every server setting, once: its name (the `--flag`, the TOML key and, upper-cased with
/// `SWITCHBOARD_`, the environment variable), its help, how its value reads and how a value
/// applies. `--help`, the flags `serve` accepts, the environment variables and the config file's
/// keys all come from ``Setting/all``; each default shown in `--help` is read from the
/// configuration types' own defaults.
///
/// Flags beat the environment, which beats the config file, which beats the defaults.
public struct Setting: Sendable {
    /// The kebab-case name: `max-connections`.
    public let key: String
    /// What the value is, for `--help`: `n`, `bytes`, `seconds`, …
    public let valueName: String
    /// What it does, without its default (added from the configuration types).
    public let help: String
    /// A flag that needs no value (`--metrics-public` means true).
    public let isFlag: Bool
    /// A list: the flag may be given several times and the config file's key may be an array of
    /// strings (each joined with commas, as the environment variable separates them).
    public let isRepeatable: Bool
    /// The default as `--help` shows it, when it is not simply the default value.
    let shownDefault: String?
    /// A valid value other than the default, for the test that every setting is reachable as a
    /// flag, an environment variable and a config key (nil for the TLS files, which must exist).
    public let example: String?
    /// The setting's value in a configuration, as text (secrets are shown as `set`).
    public let value: @Sendable (SwitchboardSettings) -> String
    let apply: @Sendable (inout SwitchboardSettings, SettingValue) throws(SettingError) -> Void

    init(
        key: String, valueName: String, help: String, isFlag: Bool = false, isRepeatable: Bool = false, shownDefault: String? = nil,
        example: String?,
        value: @escaping @Sendable (SwitchboardSettings) -> String,
        apply: @escaping @Sendable (inout SwitchboardSettings, SettingValue) throws(SettingError) -> Void
    ) {
        self.key = key
        self.valueName = valueName
        self.help = help
        self.isFlag = isFlag
        self.isRepeatable = isRepeatable
        self.shownDefault = shownDefault
        self.example = example
        self.value = value
        self.apply = apply
    }

    public var environmentVariable: String { "SWITCHBOARD_" + key.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// The default, as `--help` shows it.
    public var defaultDescription: String { shownDefault ?? value(SwitchboardSettings()) }

    /// The whole help line: what it does, its default and its environment variable.
    public var fullHelp: String { "\(help) (default \(defaultDescription)). Env: \(environmentVariable)." }
}

/// Why a value was refused, before we know where it came from.
struct SettingError: Error {
    let expected: String
    /// Which of the file's array tables (`[[apps]]`, `[[channels]]`; 0-based) it was in.
    var table: Int?

    init(expected: String, table: Int? = nil) {
        self.expected = expected
        self.table = table
    }
}

/// A refused configuration, naming the setting and where it came from. Exit code 2.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
}

extension Setting {
    /// The setting named `key`.
    public static func named(_ key: String) -> Setting? {
        all.first { $0.key == key }
    }

    /// The table every source is read through. Order is the order of `--help`: the limits on
    /// who may connect how often (Setting+Access.swift) follow `max-connections`, the Redis
    /// passwords (also Setting+Access.swift) follow `redis`, the traces' bounds
    /// (Setting+Traces.swift) follow `admin-token`; the proxies (``proxySettings``) come last.
    public static let all: [Setting] = {
        var all = listed
        let after = (all.firstIndex { $0.key == "max-connections" } ?? all.count - 1) + 1
        all.insert(contentsOf: connectionLimits, at: after)
        let afterRedis = (all.firstIndex { $0.key == "redis" } ?? all.count - 1) + 1
        all.insert(contentsOf: redisAccess, at: afterRedis)
        let afterAdminToken = (all.firstIndex { $0.key == "admin-token" } ?? all.count - 1) + 1
        all.insert(contentsOf: traceSettings, at: afterAdminToken)
        return all + proxySettings
    }()

    private static let listed: [Setting] = [
        Setting(
            key: "host", valueName: "address", help: "Address to listen on: loopback only unless told otherwise; 0.0.0.0 for all interfaces",
            example: "0.0.0.0", value: { $0.server.host },
            apply: { configuration, value throws(SettingError) in
                configuration.server.host = try value.text(nonEmpty: true)
            }),
        .integer("port", "TCP port; 0 picks a free port", range: 0...65535, example: 9000, \.server.port),
        Setting(
            key: "threads", valueName: "n", help: "Event-loop threads", shownDefault: "one per CPU this process may use; taskset is honoured",
            example: "3", value: { "\($0.server.threads)" },
            apply: { configuration, value throws(SettingError) in
                configuration.server.threads = try value.integer(in: 1...1024)
            }),
        Setting(
            key: "ws-path", valueName: "path", help: "Path of the WebSocket endpoint", example: "/live", value: { $0.server.webSocketPath },
            apply: { configuration, value throws(SettingError) in
                let path = try value.text(nonEmpty: true)
                guard path.hasPrefix("/") else { throw SettingError(expected: "a path starting with /") }
                configuration.server.webSocketPath = path
            }),
        .path(
            "echo-route",
            "Also serve a WebSocket echo endpoint at this path, for conformance suites such as Autobahn: text comes back as text, binary as binary, messages up to 16MiB",
            example: "/echo", \.server.echoPath),
        Setting(
            key: "allowed-origins", valueName: "origins",
            help:
                "Comma-separated origins of web pages that may open WebSockets besides same-origin ones, e.g. https://app.example.com; * allows any. Others get HTTP 403; clients that send no Origin are not affected",
            shownDefault: "same-origin only", example: "https://app.example.com",
            value: { $0.server.origins.allowsAny ? "*" : $0.server.origins.allowed.joined(separator: ",") },
            apply: { configuration, value throws(SettingError) in
                let list = try value.text(nonEmpty: true).split(separator: ",").map(String.init)
                guard list.allSatisfy({ $0.contains("://") || $0.trimmingCharacters(in: .whitespaces) == "*" }) else {
                    throw SettingError(expected: "origins like https://app.example.com, separated by commas, or *")
                }
                configuration.server.origins = OriginPolicy(allowed: list)
            }),
        Setting(
            key: "auth-jwt-secret", valueName: "secret",
            help:
                "Require clients on the WebSocket path to present a JWT (Authorization: Bearer or ?token=); this secret verifies HS256 tokens (see also --auth-jwt-public-key and --auth-jwt-jwks-url). Its sub is the user id, an optional channels claim (names, or prefixes ending in *) limits what it may subscribe and publish to, and an exp makes the connection expire (welcome says expires_in; the client sends refresh with a new token). Missing, wrong or expired tokens get HTTP 401",
            example: String(repeating: "s", count: 32), value: { $0.server.hub.clientTokens.secret == nil ? "off" : "set" },
            apply: { configuration, value throws(SettingError) in
                let secret = try value.text(nonEmpty: true)
                guard secret.utf8.count >= 32 else {
                    throw SettingError(expected: "a secret of at least 32 bytes (HS256 keys are as long as the hash)")
                }
                configuration.server.hub.clientTokens.secret = secret
            }),
        Setting(
            key: "auth-jwt-public-key", valueName: "file",
            help:
                "Require client JWTs and verify them with this PEM public key (or certificate): RS256 for an RSA key of 2048+ bits, ES256 for a P-256 EC key; the identity provider keeps the private key. Repeat the flag (or separate files with commas; an array in the config file) to accept several keys, e.g. during a rotation. An unreadable or unusable file stops the server with exit 2",
            isRepeatable: true, shownDefault: "none", example: nil,
            value: { $0.jwtPublicKeyFiles.isEmpty ? "none" : $0.jwtPublicKeyFiles.joined(separator: ",") },
            apply: { configuration, value throws(SettingError) in
                let files = try value.text(nonEmpty: true).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard !files.contains(where: \.isEmpty) else { throw SettingError(expected: "PEM file paths separated by commas") }
                configuration.jwtPublicKeyFiles = files
            }),
        Setting(
            key: "auth-jwt-jwks-url", valueName: "url",
            help:
                "Require client JWTs and verify them with the keys your identity provider publishes as a JWK Set at this URL (RS256, ES256, …; the token's kid picks the key). Fetched when first needed and kept; a kid it does not hold makes the server fetch the set again (the provider rotated its keys), at most once per 10 s",
            shownDefault: "off", example: "https://id.example.com/.well-known/jwks.json", value: { $0.server.hub.clientTokens.jwksURL ?? "off" },
            apply: { configuration, value throws(SettingError) in
                let text = try value.text(nonEmpty: true)
                guard let url = URL(string: text), ["http", "https"].contains(url.scheme), url.host?.isEmpty == false else {
                    throw SettingError(expected: "an http:// or https:// URL, e.g. https://id.example.com/.well-known/jwks.json")
                }
                configuration.server.hub.clientTokens.jwksURL = text
            }),
        .text(
            "auth-jwt-audience", valueName: "name",
            "Accept only client JWTs whose aud claim names this audience (a string, or one of an array); others get HTTP 401", shown: "any",
            example: "switchboard", \.server.hub.clientTokens.audience),
        .text(
            "auth-jwt-issuer", valueName: "name",
            "Accept only client JWTs whose iss claim is exactly this issuer, e.g. https://id.example.com/; others get HTTP 401", shown: "any",
            example: "https://id.example.com/", \.server.hub.clientTokens.issuer),
        .seconds(
            "refresh-grace",
            "How long a client whose token expired has, after {\"type\":\"refresh_required\"}, to send {\"type\":\"refresh\",\"token\":…} with a new token before it is closed with 4003 \"expired\"",
            example: "30", \.server.hub.refreshGrace),
        Setting(
            key: "tls-cert", valueName: "file", help: "PEM certificate chain: serve wss:// and https:// (with --tls-key)",
            shownDefault: "off, plain ws://", example: nil, value: { $0.tlsCertificate ?? "off" },
            apply: { configuration, value throws(SettingError) in
                configuration.tlsCertificate = try value.text(nonEmpty: true)
            }),
        Setting(
            key: "tls-key", valueName: "file", help: "PEM private key of --tls-cert", example: nil, value: { $0.tlsKey ?? "off" },
            apply: { configuration, value throws(SettingError) in
                configuration.tlsKey = try value.text(nonEmpty: true)
            }),
        .integer(
            "max-connections", "Most WebSocket connections at once; more get HTTP 503", range: 1...10_000_000, example: 500,
            \.server.hub.maxConnections),
        .bytes(
            "max-message-size", "Largest message a client may send, also once inflated; larger closes with 1009", range: 128...(256 << 20),
            example: "1MiB", \.server.hub.maxMessageBytes),
        .integer(
            "outbound-queue-frames", "Per-client outbound mailbox bound in frames", range: 1...1_000_000, example: 64,
            \.server.hub.outboundQueueFrames),
        .bytes(
            "outbound-queue-bytes", "Per-client outbound mailbox bound in bytes", range: 1024...(1 << 30), example: "256KiB",
            \.server.hub.outboundQueueBytes),
        Setting(
            key: "slow-consumer", valueName: "policy",
            help: "When a client's mailbox is full: close (4002 \"slow consumer\") or drop-oldest", example: "drop-oldest",
            value: { $0.server.hub.slowConsumerPolicy.rawValue },
            apply: { configuration, value throws(SettingError) in
                let text = try value.text(nonEmpty: true)
                guard let policy = HubConfiguration.SlowConsumerPolicy(rawValue: text) else {
                    throw SettingError(expected: "one of: " + HubConfiguration.SlowConsumerPolicy.allCases.map(\.rawValue).joined(separator: ", "))
                }
                configuration.server.hub.slowConsumerPolicy = policy
            }),
        .seconds(
            "heartbeat", "WebSocket ping interval; a client still silent an interval after its ping is closed with 1001", example: "2.5",
            \.server.hub.heartbeatInterval),
        .integer(
            "max-channels-per-client", "Most channels one client may subscribe to", range: 1...100_000, example: 8,
            \.server.hub.maxChannelsPerClient),
        .integer(
            "max-presence-members", "Most users present in one channel joined with \"presence\":true", range: 1...1_000_000, example: 50,
            \.server.hub.maxPresenceMembers),
        Setting(
            key: "pusher-app", valueName: "id:key:secret",
            help:
                "Serve a Pusher Channels app: clients connect to /app/<key>, backends call /apps/<id>/… signed with the secret (16+ characters). Several: separate with commas; per-app limits go in [[apps]] tables of the config file",
            shownDefault: "none", example: "4242:app-key:0123456789abcdef",
            value: { $0.server.hub.pusherApps.map { "\($0.id):\($0.key)" }.joined(separator: ",") },
            apply: { configuration, value throws(SettingError) in
                try PusherAppSettings.add(try PusherAppSettings.parseList(try value.text(nonEmpty: true)), to: &configuration.server.hub.pusherApps)
            }),
        .rate(
            "publish-rate", "Publishes per second per client: the refill rate of its token bucket; 0 = unlimited", example: "20",
            \.server.hub.publishRate),
        .rate(
            "publish-burst", "Publishes per client in one burst: the size of its token bucket (with publish-rate)", example: "5",
            \.server.hub.publishBurst),
        .integer(
            "shard-inbox-capacity", "Bound of each event loop's hub inbox; a full inbox answers \"overloaded\"", range: 16...100_000_000,
            example: 1024, \.server.hub.shardInboxCapacity),
        .seconds("close-timeout", "How long a closing client has to answer the close frame", example: "1", \.server.hub.closeTimeout),
        .seconds(
            "shutdown-timeout", "On SIGINT/SIGTERM, how long to deliver queued messages before closing", allowZero: true, example: "0",
            \.server.hub.shutdownDeadline),
        .seconds(
            "handshake-timeout", "A connection must finish its HTTP request head or WebSocket handshake within this", example: "3",
            \.server.handshakeTimeout),
        .seconds("http-idle-timeout", "Idle keep-alive HTTP connections are closed after this", example: "4", \.server.httpIdleTimeout),
        Setting(
            key: "admin-token", valueName: "token", help: "Bearer token of the admin API (16+ characters)",
            shownDefault:
                "generated at start and written, mode 0600, to $XDG_RUNTIME_DIR/switchboard/<port>.token or ~/.local/state/switchboard/<port>.token",
            example: "an-admin-token-0123456789", value: { $0.server.adminToken == nil ? "generated" : "set" },
            apply: { configuration, value throws(SettingError) in
                let token = try value.text(nonEmpty: true)
                guard token.count >= 16 else { throw SettingError(expected: "a token of at least 16 characters") }
                configuration.server.adminToken = token
            }),
        Setting(
            key: "redis", valueName: "url",
            help:
                "Join the cluster of every node using this Redis: redis://[USER:PASSWORD@]HOST[:PORT][/DB], or the master Redis Sentinel names, redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB] (followed through failovers), or a Redis Cluster from seed nodes, redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…] (sharded pub/sub). Publishes are numbered in Redis and reach subscribers on every node; while Redis is unreachable publishes are refused (\"unavailable\", HTTP 503)",
            shownDefault: "off, one node with no external service", example: "redis://127.0.0.1:6379/2",
            value: { $0.server.hub.cluster.redis.map { "\($0)" } ?? "off" },
            apply: { configuration, value throws(SettingError) in
                let url = try value.text(nonEmpty: true)
                do {
                    configuration.server.hub.cluster.redis = try RedisAddress(url: url)
                } catch {
                    // The address's own refusal names the forms it takes ("expected …, got …") or what is wrong.
                    let why = "\(error)"
                    throw SettingError(expected: why.hasPrefix("expected ") ? String(why.dropFirst("expected ".count)) : "a Redis URL: " + why)
                }
            }),
        Setting(
            key: "redis-prefix", valueName: "prefix",
            help: "Namespace of the cluster's Redis keys and pub/sub names: nodes with another prefix are another cluster, even on the same Redis",
            example: "staging", value: { $0.server.hub.cluster.prefix },
            apply: { configuration, value throws(SettingError) in
                let prefix = try value.text(nonEmpty: true)
                guard prefix.utf8.count <= 64, !prefix.contains(where: { $0 == "{" || $0 == "}" || $0.isWhitespace }) else {
                    throw SettingError(expected: "1-64 characters without spaces or braces")
                }
                configuration.server.hub.cluster.prefix = prefix
            }),
        Setting(
            key: "node-name", valueName: "name", help: "This node's name in a cluster's logs, API and console (with --port 0: host name:0-pid)",
            shownDefault: "host name:port",
            example: "node-b", value: { $0.server.hub.cluster.nodeName ?? "host name:port" },
            apply: { configuration, value throws(SettingError) in
                let name = try value.text(nonEmpty: true)
                guard name.utf8.count <= 64, !name.contains(where: { $0.isWhitespace }) else {
                    throw SettingError(expected: "1-64 characters without spaces")
                }
                configuration.server.hub.cluster.nodeName = name
            }),
        .integer(
            "history-size",
            "Messages kept per channel for clients that resume with \"since\" and for history requests; 0 keeps none. Per channel pattern: [[channels]] tables of the config file (pattern, history_size, history_ttl; first match wins)",
            range: 0...100_000, example: 100, \.server.hub.history.global.size),
        Setting(
            key: "history-ttl", valueName: "duration",
            help: "How long a channel's history lives after its last publish (then its epoch changes); seconds or 30s, 10m, 2h",
            example: "30m", value: { secondsText($0.server.hub.history.global.ttl) },
            apply: { configuration, value throws(SettingError) in
                configuration.server.hub.history.global.ttl = try value.duration(allowZero: false, maxSeconds: 30 * 86_400)
            }),
        .bytes(
            "history-max-bytes",
            "Cap on the bytes all channels' histories hold together; beyond it the oldest messages are evicted (logged and counted)",
            range: 1024...(64 << 30), example: "16MiB", \.server.hub.history.maxBytes),
        Setting(
            key: "idempotency-ttl", valueName: "duration",
            help:
                "How long a publish's \"idempotency_key\" is remembered: a publish with the same key to the same channel within it is answered with the first one's seq and not sent again (clustered: kept in Redis); seconds or 30s, 10m, 2h",
            example: "10m", value: { secondsText($0.server.hub.idempotencyTTL) },
            apply: { configuration, value throws(SettingError) in
                configuration.server.hub.idempotencyTTL = try value.duration(allowZero: false, maxSeconds: 86_400)
            }),
        .flag("metrics-public", "Serve /metrics without the admin token", \.server.metricsPublic),
        .flag(
            "fault-injection", "Testing only: lets tests make a session or the metrics actor fail, to prove supervision", \.server.hub.faultInjection),
        Setting(
            key: "log-format", valueName: "format", help: "Log line format on stderr: text or json", example: "json",
            value: { $0.logFormat.rawValue },
            apply: { configuration, value throws(SettingError) in
                guard let format = LogFormat(rawValue: try value.text(nonEmpty: true)) else { throw SettingError(expected: "text or json") }
                configuration.logFormat = format
            }),
        Setting(
            key: "log-level", valueName: "level", help: "Least severe level logged: trace, debug, info, notice, warning, error, critical",
            example: "debug", value: { $0.logLevel.rawValue },
            apply: { configuration, value throws(SettingError) in
                guard let level = Logger.Level(rawValue: try value.text(nonEmpty: true)) else {
                    throw SettingError(expected: "one of: " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
                }
                configuration.logLevel = level
            }),
        .seconds(
            "stats-interval", "Interval of the periodic stats log line; 0 turns it off", allowZero: true, example: "60", \.server.statsInterval),
    ]
}

/// What `serve` runs with: the server's configuration plus how it logs.
public struct SwitchboardSettings: Sendable {
    public var server = ServerConfiguration()
    public var logFormat = LogFormat.text
    public var logLevel = Logger.Level.info
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// The PEM files of `--auth-jwt-public-key`, read into the server's configuration once every
    /// source is applied.
    public var jwtPublicKeyFiles: [String] = []

    public init() {}
}

/// Builds ``SwitchboardSettings`` from the defaults, a TOML file, the environment and flags.
public struct ConfigurationLoader {
    var settings = Setting.all

    public init() {}

    public func load(file: String?, environment: [String: String], flags: [String: String]) throws -> SwitchboardSettings {
        var configuration = SwitchboardSettings()
        if let file { try applyFile(file, to: &configuration) }
        for setting in settings {
            if let value = environment[setting.environmentVariable] {
                try apply(setting, .text(value), to: &configuration, source: "environment variable \(setting.environmentVariable)")
            }
        }
        for setting in settings {
            if let value = flags[setting.key] {
                try apply(setting, .text(value), to: &configuration, source: "--\(setting.key)")
            }
        }
        try loadTLS(into: &configuration)
        do {
            configuration.server.hub.clientTokens.publicKeys = try configuration.jwtPublicKeyFiles.map(ClientTokenKey.load(pemFile:))
        } catch {
            throw ConfigurationError(description: "--auth-jwt-public-key: \(error)")
        }
        return configuration
    }

    private func loadTLS(into configuration: inout SwitchboardSettings) throws {
        switch (configuration.tlsCertificate, configuration.tlsKey) {
        case (nil, nil):
            return
        case (let certificate?, let key?):
            do {
                configuration.server.tls = try TLSFiles.load(certificateChain: certificate, privateKey: key)
            } catch {
                throw ConfigurationError(description: "\(error)")
            }
        default:
            throw ConfigurationError(description: "--tls-cert and --tls-key go together: give both files or neither")
        }
    }

    private func apply(_ setting: Setting, _ value: SettingValue, to configuration: inout SwitchboardSettings, source: String) throws {
        do {
            try setting.apply(&configuration, value)
        } catch {
            throw ConfigurationError(description: "\(source): invalid value \(value.shown); expected \(error.expected)")
        }
    }

    private func applyFile(_ path: String, to configuration: inout SwitchboardSettings) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(description: "\(path): cannot read the config file (\(error.localizedDescription))")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(description: "\(path):\(error.source.begin.line): \(error.description)")
        }
        let byKey = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0) })
        if let apps = table["apps"] {
            do {
                try PusherAppSettings.add(try PusherAppSettings.apps(from: apps), to: &configuration.server.hub.pusherApps)
            } catch {
                let line = Self.line(of: "[[apps]]", in: text, occurrence: error.table)
                throw ConfigurationError(description: "\(path):\(line): [[apps]]: expected \(error.expected)")
            }
        }
        if let channels = table["channels"] {
            do {
                (configuration.server.hub.history.rules, configuration.server.hub.proxy.channels.rules) = try ChannelSettings.rules(from: channels)
            } catch {
                let line = Self.line(of: "[[channels]]", in: text, occurrence: error.table)
                throw ConfigurationError(description: "\(path):\(line): [[channels]]: expected \(error.expected)")
            }
        }
        let tables: Set<String> = ["apps", "channels"]
        for key in table.keys.sorted(by: { Self.line(of: $0, in: text) < Self.line(of: $1, in: text) }) where !tables.contains(key) {
            let line = Self.line(of: key, in: text)
            guard let setting = byKey[key] else {
                let known = (settings.map(\.key) + ["[[apps]]", "[[channels]]"]).joined(separator: ", ")
                let what = table[key]?.table != nil || table[key]?.array?.first?.table != nil ? "table" : "key"
                throw ConfigurationError(description: "\(path):\(line): unknown \(what) \"\(key)\"; known keys: \(known)")
            }
            guard let raw = table[key] else { continue }
            let value: SettingValue
            switch raw.type {
            case .string: value = .text(raw.string ?? "")
            case .int: value = .integer(raw.int ?? 0)
            case .double: value = .number(raw.double ?? 0)
            case .bool: value = .boolean(raw.bool ?? false)
            case .array where setting.isRepeatable:
                guard let items = raw.array?.compactMap(\.string), !items.isEmpty, items.count == raw.array?.count else {
                    throw ConfigurationError(description: "\(path):\(line): \(key): expected a string or an array of strings")
                }
                value = .text(items.joined(separator: ","))
            default:
                throw ConfigurationError(description: "\(path):\(line): \(key): tables, arrays and dates are not settings")
            }
            try apply(setting, value, to: &configuration, source: "\(path):\(line): \(key)")
        }
    }

    /// The 1-based line where `key` is assigned or opens a table (`[key]`, `[[key]]`, `[key.sub]`),
    /// or where the `occurrence`-th (0-based) header `key` such as `[[apps]]` is (TOMLKit
    /// reports no positions for values).
    static func line(of key: String, in text: String, occurrence: Int? = nil) -> Int {
        var seen = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("[") {
                guard trimmed.hasPrefix(key) else { continue }
                if seen == (occurrence ?? 0) { return number + 1 }
                seen += 1
                continue
            }
            for header in ["[\(key)]", "[[\(key)]]", "[\(key)."] where trimmed.hasPrefix(header) { return number + 1 }
            for spelling in [key, "\"\(key)\"", "'\(key)'"] where trimmed.hasPrefix(spelling) {
                let rest = trimmed.dropFirst(spelling.count).trimmingCharacters(in: .whitespaces)
                if rest.hasPrefix("=") || rest.hasPrefix(".") { return number + 1 }
            }
        }
        return 0
    }
}
