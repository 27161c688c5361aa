import NIOCore
import SwitchboardCore

/// A session's figures as operators see them: its row in the client table, its place in each
/// order, and the once-a-second sample that makes its rate. Loop only.
extension Session {
    /// This client as operators see it, present in presence channels as `presenceUsers`. Loop
    /// only.
    func row(monotonicNow: UInt64, wallNow: Double, presenceUsers: [String]) -> ClientRow {
        shard.eventLoop.assertInEventLoop()
        var row = ClientRow(
            id: id, remoteAddress: remoteAddress, userAgent: userAgent, connectedAt: connectedAt,
            lastActivity: wallNow - Double(monotonicNow &- heartbeat.lastInbound) / 1e9, channels: channels,
            messagesIn: messagesIn, messagesOut: messagesOut, bytesIn: bytesIn, bytesOut: bytesOut, rate: rate,
            mailbox: mailboxCounts, mailboxCapacity: shard.configuration.outboundQueueFrames,
            pusherApp: pusher?.app.id, socketID: pusher?.socketID,
            user: user(presenceUsers: presenceUsers)
        )
        if case .closing(let ending) = closing.state {
            row.state = .closing
            row.closeCode = Int(ending.code)
            row.closeReason = ending.reason
        }
        return row
    }

    /// Who the client is: its token's `sub`, its Pusher signed-in user, or its presence users.
    func user(presenceUsers: [String]) -> String? {
        authenticatedUser ?? (presenceUsers.isEmpty ? nil : presenceUsers.joined(separator: ","))
    }

    /// The user the client proved to be: its token's `sub` or its Pusher signed-in user; what
    /// operators act on as a user (`POST /api/users/{user}/disconnect`, `GET /api/users/{user}`).
    var authenticatedUser: String? {
        identity.user ?? pusher?.signedInUser
    }

    /// Where the client table's `key` puts this client in ascending order (see
    /// ``ClientQuery/SortKey/rank(of:number:)``, which reads the same figures from a row). Loop only.
    func sortRank(_ key: ClientQuery.SortKey, monotonicNow: UInt64, wallNow: Double) -> UInt64 {
        switch key {
        case .id: number
        case .remote: remoteRank
        case .age: ClientQuery.SortKey.rank(of: connectedAt)
        case .idle: ClientQuery.SortKey.rank(of: wallNow - Double(monotonicNow &- heartbeat.lastInbound) / 1e9)
        case .channels: UInt64(channels.count)
        case .messagesIn: UInt64(messagesIn)
        case .messagesOut: UInt64(messagesOut)
        case .rate: ClientQuery.SortKey.rank(of: rate)
        case .mailbox: UInt64(mailbox.depth)
        }
    }

    /// Takes the messages (in + out) since the previous sample as the client's rate over
    /// `elapsed` seconds (nil: the first sample, which only sets the baseline), and tells which
    /// of the figures that orders by moving columns read changed since the previous sample.
    /// Loop only.
    func sampleFigures(elapsed: Double?) -> MovedFigures {
        let messages = messagesIn + messagesOut
        let previousRate = rate
        if let elapsed { rate = Double(messages - sampledMessages) / elapsed }
        var moved: MovedFigures = []
        if messages != sampledMessages { moved.insert(.messages) }
        if rate != previousRate { moved.insert(.rate) }
        if heartbeat.lastInbound != sampledActivity { moved.insert(.activity) }
        if mailbox.depth != sampledDepth { moved.insert(.mailbox) }
        sampledMessages = messages
        sampledActivity = heartbeat.lastInbound
        sampledDepth = mailbox.depth
        return moved
    }
}

/// Which of a client's figures that orders by moving columns read changed between two samples.
struct MovedFigures: OptionSet {
    let rawValue: UInt8

    static let messages = MovedFigures(rawValue: 1 << 0)
    static let rate = MovedFigures(rawValue: 1 << 1)
    static let activity = MovedFigures(rawValue: 1 << 2)
    static let mailbox = MovedFigures(rawValue: 1 << 3)

    init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// The figure an order by `sort` reads (none for a column that does not move by itself).
    init(readBy sort: ClientQuery.SortKey) {
        switch sort {
        case .messagesIn, .messagesOut: self = .messages
        case .rate: self = .rate
        case .idle: self = .activity
        case .mailbox: self = .mailbox
        case .id, .remote, .age, .channels: self = []
        }
    }
}
