/// The channels an authenticated client may subscribe and publish to: the `channels` claim of its
/// token. An entry is a channel name, or a prefix ending in `*` (`room:*` grants `room:1`);
/// `*` alone grants every channel.
public struct ChannelGrant: Sendable, Equatable {
    public let patterns: [String]

    public init(_ patterns: [String]) {
        self.patterns = patterns
    }

    /// Whether the grant covers `channel`.
    public func permits(_ channel: String) -> Bool {
        patterns.contains { pattern in
            pattern.hasSuffix("*") ? channel.hasPrefix(pattern.dropLast()) : pattern == channel
        }
    }
}
