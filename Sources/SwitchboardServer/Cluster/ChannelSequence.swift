/// What a node concludes from the `seq` of the next message of a channel, given the last one it
/// delivered: in order, some were missed (published while this node could not hear them), or
/// the numbering began again (Redis came back empty) — or, once fenced, went backwards under
/// one epoch (a failover to a replica that lagged, see ClusterFence.swift).
enum ChannelSequence: Equatable {
    case inOrder
    case missed(UInt64)
    case restarted
    /// Only after a fence: the numbering continues in a new epoch.
    case fenced

    /// `last` is nil when this node has delivered nothing of the channel since it subscribed.
    init(last: UInt64?, next: UInt64) {
        guard let last else {
            self = .inOrder
            return
        }
        if next == last + 1 {
            self = .inOrder
        } else if next > last {
            self = .missed(next - last - 1)
        } else {
            self = .restarted
        }
    }

    /// What the channel's subscribers are told when messages were lost, if they were.
    var lossNotice: String? {
        switch self {
        case .inOrder: nil
        case .missed(let count): "\(count) message\(count == 1 ? " was" : "s were") published while this node could not receive them"
        case .restarted: "the channel's numbering restarted (Redis lost its data); messages published meanwhile may be lost"
        case .fenced: "a Redis failover lost messages; the numbering continues in a new epoch and messages published meanwhile may be lost"
        }
    }
}
