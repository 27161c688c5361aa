/// How much of a channel's past the hub keeps: the last `size` messages, for `ttl` after the
/// channel's last publish. A size of 0 keeps nothing (history off, the default).
public struct HistoryPolicy: Sendable, Equatable {
    /// Messages kept per channel; 0 turns history off.
    public var size: Int
    /// How long a channel's history lives after its last publish.
    public var ttl: Duration

    public init(size: Int, ttl: Duration) {
        self.size = size
        self.ttl = ttl
    }

    /// Whether channels under this policy keep history at all.
    public var isOn: Bool { size > 0 }
}

/// The history settings of a hub: the global policy, per-pattern policies from the config
/// file's `[[channels]]` tables (first match wins), and a cap on the bytes all histories hold.
public struct HistorySettings: Sendable, Equatable {
    /// A `[[channels]]` table: channels whose name matches `pattern` get its size and time to
    /// live (the global ones where it sets none).
    public struct Rule: Sendable, Equatable {
        /// A channel name in which `*` stands for any run of characters (`chat:*`, `*.log`, `*`).
        public var pattern: String
        public var size: Int?
        public var ttl: Duration?

        public init(pattern: String, size: Int? = nil, ttl: Duration? = nil) {
            self.pattern = pattern
            self.size = size
            self.ttl = ttl
        }

        /// Whether `channel` matches the pattern.
        public func matches(_ channel: String) -> Bool {
            ChannelPattern.matches(pattern, channel)
        }
    }

    /// What channels no rule matches get (off unless `history-size` is set).
    public var global = HistoryPolicy(size: 0, ttl: .seconds(600))
    /// The `[[channels]]` tables, in file order.
    public var rules: [Rule] = []
    /// The most bytes of messages all channels' histories hold together; beyond it the oldest
    /// messages of the node go first (and a metric counts them).
    public var maxBytes = 128 * 1024 * 1024

    public init() {}

    /// Whether any channel can have history (when not, the hub skips every history step).
    public var isEnabled: Bool { global.isOn || rules.contains { ($0.size ?? global.size) > 0 } }

    /// The policy of `channel`, or nil when it keeps no history.
    public func policy(for channel: String) -> HistoryPolicy? {
        let rule = rules.first { $0.matches(channel) }
        let policy = HistoryPolicy(size: rule?.size ?? global.size, ttl: rule?.ttl ?? global.ttl)
        return policy.isOn ? policy : nil
    }
}

/// Channel name patterns of the config file's `[[channels]]` tables: `*` stands for any run of
/// characters (`chat:*`, `*.log`, `*`).
public enum ChannelPattern {
    /// Whether `channel` matches `pattern`.
    public static func matches(_ pattern: String, _ channel: String) -> Bool {
        glob(Array(pattern.utf8)[...], Array(channel.utf8)[...])
    }

    private static func glob(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) -> Bool {
        guard let star = pattern.firstIndex(of: UInt8(ascii: "*")) else { return pattern.elementsEqual(name) }
        let head = pattern[..<star]
        guard name.starts(with: head) else { return false }
        let rest = pattern[(star + 1)...]
        var remainder = name.dropFirst(head.count)
        while true {
            if glob(rest, remainder) { return true }
            guard !remainder.isEmpty else { return false }
            remainder = remainder.dropFirst()
        }
    }
}
