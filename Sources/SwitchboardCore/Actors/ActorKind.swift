/// What kind of actor owns a mailbox. The raw values are what the admin API, the console and
/// the `kind` label of `switchboard_mailbox_depth` show.
public enum ActorKind: String, Codable, Sendable, CaseIterable {
    /// One client's session (its outbound mailbox).
    case session
    /// One event loop's share of the hub (its inbox).
    case hubShard = "hub-shard"
    /// The metrics collector.
    case metrics
    /// Webhook delivery.
    case webhooks
    /// One attached console's admin stream.
    case adminStream = "admin-stream"

    /// Whether actors of this kind live as long as the server (the ones an operator looks for
    /// first), rather than one per client.
    public var isLongLived: Bool { self != .session }
}
