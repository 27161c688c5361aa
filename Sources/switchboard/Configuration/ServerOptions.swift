import ArgumentParser

/// The server settings as command-line flags. Each flag is also an environment variable and a
/// config-file key; see ``Setting/all`` for the one table they all go through.
struct ServerOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "TOML config file; flags beat environment beat file. Env: SWITCHBOARD_CONFIG.")
    var config: String?

    @Option(name: .customLong("host"), help: ArgumentHelp(Setting.help("host"), valueName: "address"))
    var host: String?

    @Option(name: .customLong("port"), help: ArgumentHelp(Setting.help("port"), valueName: "n"))
    var port: String?

    @Option(name: .customLong("threads"), help: ArgumentHelp(Setting.help("threads"), valueName: "n"))
    var threads: String?

    @Option(name: .customLong("ws-path"), help: ArgumentHelp(Setting.help("ws-path"), valueName: "path"))
    var wsPath: String?

    @Option(name: .customLong("echo-route"), help: ArgumentHelp(Setting.help("echo-route"), valueName: "path"))
    var echoRoute: String?

    @Option(name: .customLong("allowed-origins"), help: ArgumentHelp(Setting.help("allowed-origins"), valueName: "origins"))
    var allowedOrigins: String?

    @Option(name: .customLong("auth-jwt-secret"), help: ArgumentHelp(Setting.help("auth-jwt-secret"), valueName: "secret"))
    var authJWTSecret: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(Setting.help("tls-cert"), valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp(Setting.help("tls-key"), valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("max-connections"), help: ArgumentHelp(Setting.help("max-connections"), valueName: "n"))
    var maxConnections: String?

    @Option(name: .customLong("max-message-size"), help: ArgumentHelp(Setting.help("max-message-size"), valueName: "bytes"))
    var maxMessageSize: String?

    @Option(name: .customLong("outbound-queue-frames"), help: ArgumentHelp(Setting.help("outbound-queue-frames"), valueName: "n"))
    var outboundQueueFrames: String?

    @Option(name: .customLong("outbound-queue-bytes"), help: ArgumentHelp(Setting.help("outbound-queue-bytes"), valueName: "bytes"))
    var outboundQueueBytes: String?

    @Option(name: .customLong("slow-consumer"), help: ArgumentHelp(Setting.help("slow-consumer"), valueName: "policy"))
    var slowConsumer: String?

    @Option(name: .customLong("heartbeat"), help: ArgumentHelp(Setting.help("heartbeat"), valueName: "seconds"))
    var heartbeat: String?

    @Option(name: .customLong("max-channels-per-client"), help: ArgumentHelp(Setting.help("max-channels-per-client"), valueName: "n"))
    var maxChannelsPerClient: String?

    @Option(name: .customLong("max-presence-members"), help: ArgumentHelp(Setting.help("max-presence-members"), valueName: "n"))
    var maxPresenceMembers: String?

    @Option(name: .customLong("pusher-app"), help: ArgumentHelp(Setting.help("pusher-app"), valueName: "id:key:secret"))
    var pusherApp: String?

    @Option(name: .customLong("publish-rate"), help: ArgumentHelp(Setting.help("publish-rate"), valueName: "per-second"))
    var publishRate: String?

    @Option(name: .customLong("publish-burst"), help: ArgumentHelp(Setting.help("publish-burst"), valueName: "n"))
    var publishBurst: String?

    @Option(name: .customLong("shard-inbox-capacity"), help: ArgumentHelp(Setting.help("shard-inbox-capacity"), valueName: "n"))
    var shardInboxCapacity: String?

    @Option(name: .customLong("close-timeout"), help: ArgumentHelp(Setting.help("close-timeout"), valueName: "seconds"))
    var closeTimeout: String?

    @Option(name: .customLong("shutdown-timeout"), help: ArgumentHelp(Setting.help("shutdown-timeout"), valueName: "seconds"))
    var shutdownTimeout: String?

    @Option(name: .customLong("handshake-timeout"), help: ArgumentHelp(Setting.help("handshake-timeout"), valueName: "seconds"))
    var handshakeTimeout: String?

    @Option(name: .customLong("http-idle-timeout"), help: ArgumentHelp(Setting.help("http-idle-timeout"), valueName: "seconds"))
    var httpIdleTimeout: String?

    @Option(name: .customLong("admin-token"), help: ArgumentHelp(Setting.help("admin-token"), valueName: "token"))
    var adminToken: String?

    @Flag(name: .customLong("metrics-public"), help: ArgumentHelp(Setting.help("metrics-public")))
    var metricsPublic = false

    @Flag(name: .customLong("fault-injection"), help: ArgumentHelp(Setting.help("fault-injection"), visibility: .hidden))
    var faultInjection = false

    @Option(name: .customLong("log-format"), help: ArgumentHelp(Setting.help("log-format"), valueName: "format"))
    var logFormat: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp(Setting.help("log-level"), valueName: "level"))
    var logLevel: String?

    @Option(name: .customLong("stats-interval"), help: ArgumentHelp(Setting.help("stats-interval"), valueName: "seconds"))
    var statsInterval: String?

    /// The flags that were given, by setting key.
    var given: [String: String] {
        let all: [(String, String?)] = [
            ("host", host),
            ("port", port),
            ("threads", threads),
            ("ws-path", wsPath),
            ("echo-route", echoRoute),
            ("allowed-origins", allowedOrigins),
            ("auth-jwt-secret", authJWTSecret),
            ("tls-cert", tlsCert),
            ("tls-key", tlsKey),
            ("max-connections", maxConnections),
            ("max-message-size", maxMessageSize),
            ("outbound-queue-frames", outboundQueueFrames),
            ("outbound-queue-bytes", outboundQueueBytes),
            ("slow-consumer", slowConsumer),
            ("heartbeat", heartbeat),
            ("max-channels-per-client", maxChannelsPerClient),
            ("max-presence-members", maxPresenceMembers),
            ("pusher-app", pusherApp),
            ("publish-rate", publishRate),
            ("publish-burst", publishBurst),
            ("shard-inbox-capacity", shardInboxCapacity),
            ("close-timeout", closeTimeout),
            ("shutdown-timeout", shutdownTimeout),
            ("handshake-timeout", handshakeTimeout),
            ("http-idle-timeout", httpIdleTimeout),
            ("admin-token", adminToken),
            ("metrics-public", metricsPublic ? "true" : nil),
            ("fault-injection", faultInjection ? "true" : nil),
            ("log-format", logFormat),
            ("log-level", logLevel),
            ("stats-interval", statsInterval),
        ]
        return Dictionary(uniqueKeysWithValues: all.compactMap { key, value in value.map { (key, $0) } })
    }
}
