public import NIOSSL
public import SwitchboardCore

/// Everything the server needs to run. Defaults are safe for production: loopback only,
/// bounded everything.
public struct ServerConfiguration: Sendable {
    /// Address to bind; loopback unless told otherwise.
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one.
    public var port = 8080
    /// Event-loop threads; defaults to the CPUs this process may run on (honours `taskset`).
    public var threads = SystemResources.availableCPUs
    /// The WebSocket endpoint of the native protocol.
    public var webSocketPath = "/ws"
    /// Path of the conformance echo endpoint (Autobahn|Testsuite); nil (the default) serves none.
    public var echoPath: String?
    /// Which browser pages may open WebSocket connections (same-origin ones by default).
    public var origins = OriginPolicy()
    /// TLS for every listener path (`wss://`, `https://`); nil serves plain TCP.
    public var tls: TLSConfiguration?
    /// A connection must finish its HTTP request head (or WebSocket handshake) this fast.
    public var handshakeTimeout = Duration.seconds(10)
    /// Idle keep-alive HTTP connections are closed after this long.
    public var httpIdleTimeout = Duration.seconds(30)
    /// Interval of the periodic stats log line; zero turns it off.
    public var statsInterval = Duration.seconds(10)
    /// Bearer token of the admin API; nil generates one and writes it to the state file.
    public var adminToken: String?
    /// Serve `/metrics` without the admin token (for a Prometheus on a trusted network).
    public var metricsPublic = false
    /// The hub's limits and timings.
    public var hub = HubConfiguration()

    public init() {}
}
