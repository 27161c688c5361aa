public import SwitchboardCore

/// Where and how the hub asks the application's backend about connections, subscriptions,
/// publishes and refreshes (`proxy-*` settings). Nothing is asked while no URL is set.
public struct ProxyConfiguration: Sendable {
    /// Asked on a native-protocol upgrade that brings no valid JWT.
    public var connectURL: String?
    /// Asked before a subscription to a channel the `[[channels]]` rules proxy.
    public var subscribeURL: String?
    /// Asked before a publish to a channel the `[[channels]]` rules proxy.
    public var publishURL: String?
    /// Asked when a connection the connect proxy accepted reaches its `expire_at`.
    public var refreshURL: String?
    /// How long a request may take, waiting for a free slot included; beyond it the client gets
    /// `unavailable`.
    public var timeout = Duration.seconds(2)
    /// The handshake headers passed on to the connect proxy (cookies are the `Cookie` header).
    public var headers = ["Cookie", "Authorization", "Origin", "User-Agent", "X-Forwarded-For"]
    /// Requests in flight at once on this node; as many again times ``queueFactor`` wait, and
    /// beyond that a request is refused at once as `overloaded`.
    public var concurrency = 64
    /// The HMAC key of `X-Switchboard-Signature`; nil sends requests unsigned.
    public var secret: String?
    /// Consecutive failures that open a proxy's circuit breaker.
    public var breakerFailures = 5
    /// How long an open breaker refuses before it lets one request probe.
    public var breakerCooldown = Duration.seconds(5)
    /// Which channels' subscriptions and publishes are proxied (`[[channels]]` tables).
    public var channels = ProxyChannelRules()

    /// How many requests may wait for a slot, per request in flight.
    public static let queueFactor = 4

    public init() {}

    /// Whether any proxy URL is set (when not, the hub builds no proxy client at all).
    public var isEnabled: Bool { ProxyKind.allCases.contains { url(for: $0) != nil } }

    /// The URL asked about `kind`, if any.
    public func url(for kind: ProxyKind) -> String? {
        switch kind {
        case .connect: connectURL
        case .subscribe: subscribeURL
        case .publish: publishURL
        case .refresh: refreshURL
        }
    }
}
