/// Who is present in each presence channel: members keyed by user id, each with the number of
/// connections that user has in the channel, so joins and leaves are per user, not per tab.
///
/// Used by both protocols (Pusher `presence-` channels and native `"presence":true`
/// subscriptions). A value type; the hub keeps one behind a lock.
public struct PresenceRegistry: Sendable {
    private struct Entry: Sendable {
        var member: PresenceMember
        var connections: Int
        /// Join order, so member lists read in the order users arrived.
        var order: Int
    }

    /// What a join changed.
    public enum JoinOutcome: Equatable, Sendable {
        /// The user was not present: others should hear `member_added`.
        case joined
        /// The user was already present on another connection: nothing to announce.
        case alreadyPresent
        /// The channel holds its limit of users; the subscription is refused.
        case full
    }

    private var channels: [String: [String: Entry]] = [:]
    private var joins = 0

    public init() {}

    /// Adds one connection of `member` to `channel` (at most `limit` distinct users).
    public mutating func join(_ member: PresenceMember, channel: String, limit: Int) -> JoinOutcome {
        var entries = channels[channel, default: [:]]
        if var entry = entries[member.userID] {
            entry.connections += 1
            entries[member.userID] = entry
            channels[channel] = entries
            return .alreadyPresent
        }
        guard entries.count < limit else { return .full }
        joins += 1
        entries[member.userID] = Entry(member: member, connections: 1, order: joins)
        channels[channel] = entries
        return .joined
    }

    /// Removes one connection of `userID` from `channel`; true when it was the user's last one
    /// there (others should hear `member_removed`).
    public mutating func leave(userID: String, channel: String) -> Bool {
        guard var entries = channels[channel], var entry = entries[userID] else { return false }
        entry.connections -= 1
        if entry.connections > 0 {
            entries[userID] = entry
            channels[channel] = entries
            return false
        }
        entries.removeValue(forKey: userID)
        channels[channel] = entries.isEmpty ? nil : entries
        return true
    }

    /// The members of `channel`, in the order they joined.
    public func members(of channel: String) -> [PresenceMember] {
        (channels[channel] ?? [:]).values.sorted { $0.order < $1.order }.map(\.member)
    }

    /// Every channel's members (for registering them again elsewhere), in no particular order.
    public var memberships: [(channel: String, member: PresenceMember)] {
        channels.flatMap { channel, entries in entries.values.map { (channel, $0.member) } }
    }

    /// How many distinct users are in `channel`.
    public func userCount(of channel: String) -> Int {
        channels[channel]?.count ?? 0
    }
}
