/// Which channels' subscriptions and publishes are asked of the application's backend, from the
/// `proxy_subscribe` and `proxy_publish` keys of the config file's `[[channels]]` tables.
///
/// The first table whose pattern matches a channel decides (as for history). A table that
/// leaves a key out, and a channel no table matches, get the default: when no table sets the
/// key at all, every channel is proxied (setting `proxy-subscribe-url` is enough); once some
/// table sets it, only channels whose table says `true` are. Either way nothing is proxied
/// without the URL.
public struct ProxyChannelRules: Sendable, Equatable {
    /// One `[[channels]]` table's say.
    public struct Rule: Sendable, Equatable {
        public var pattern: String
        public var subscribe: Bool?
        public var publish: Bool?

        public init(pattern: String, subscribe: Bool? = nil, publish: Bool? = nil) {
            self.pattern = pattern
            self.subscribe = subscribe
            self.publish = publish
        }
    }

    /// The tables, in file order.
    public var rules: [Rule] = []

    public init(rules: [Rule] = []) {
        self.rules = rules
    }

    /// Whether a subscription to `channel` is asked of the backend (given a subscribe URL).
    public func proxiesSubscribe(to channel: String) -> Bool {
        decide(channel, \.subscribe)
    }

    /// Whether a publish to `channel` is asked of the backend (given a publish URL).
    public func proxiesPublish(to channel: String) -> Bool {
        decide(channel, \.publish)
    }

    private func decide(_ channel: String, _ key: KeyPath<Rule, Bool?>) -> Bool {
        let fallback = !rules.contains { $0[keyPath: key] != nil }
        guard let rule = rules.first(where: { ChannelPattern.matches($0.pattern, channel) }) else { return fallback }
        return rule[keyPath: key] ?? fallback
    }
}
