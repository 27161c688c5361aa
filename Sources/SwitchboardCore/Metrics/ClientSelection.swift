/// What the client table sorts by: a client's figures without its rows' derived parts (channel
/// names, users, user agent).
public struct ClientSortFields: Sendable, Equatable {
    public var id: String
    /// The remote address as ``RemoteAddressRank`` orders it.
    public var remoteRank: UInt64
    public var connectedAt: Double
    public var lastActivity: Double
    public var channelCount: Int
    public var messagesIn: Int
    public var messagesOut: Int
    public var rate: Double
    public var mailboxDepth: Int

    public init(
        id: String, remoteRank: UInt64, connectedAt: Double, lastActivity: Double, channelCount: Int, messagesIn: Int, messagesOut: Int,
        rate: Double, mailboxDepth: Int
    ) {
        self.id = id
        self.remoteRank = remoteRank
        self.connectedAt = connectedAt
        self.lastActivity = lastActivity
        self.channelCount = channelCount
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.rate = rate
        self.mailboxDepth = mailboxDepth
    }
}

extension ClientRow {
    /// The figures this row sorts by.
    public var sortFields: ClientSortFields {
        ClientSortFields(
            id: id, remoteRank: RemoteAddressRank.of(remoteAddress), connectedAt: connectedAt, lastActivity: lastActivity,
            channelCount: channels.count, messagesIn: messagesIn, messagesOut: messagesOut, rate: rate, mailboxDepth: mailbox.depth)
    }
}

extension ClientQuery {
    /// Whether `a` sorts before `b`; ties break on id so windows are stable. The table's order
    /// stated plainly: the servers find windows with ``ClientOrderKey``s, which must agree.
    public func orders(_ a: ClientSortFields, before b: ClientSortFields) -> Bool {
        let ordered: Bool? =
            switch sort {
            case .id: Self.idOrder(a.id, b.id)
            case .remote: a.remoteRank == b.remoteRank ? nil : a.remoteRank < b.remoteRank
            case .age: a.connectedAt == b.connectedAt ? nil : a.connectedAt > b.connectedAt
            case .idle: a.lastActivity == b.lastActivity ? nil : a.lastActivity > b.lastActivity
            case .channels: a.channelCount == b.channelCount ? nil : a.channelCount < b.channelCount
            case .messagesIn: a.messagesIn == b.messagesIn ? nil : a.messagesIn < b.messagesIn
            case .messagesOut: a.messagesOut == b.messagesOut ? nil : a.messagesOut < b.messagesOut
            case .rate: a.rate == b.rate ? nil : a.rate < b.rate
            case .mailbox: a.mailboxDepth == b.mailboxDepth ? nil : a.mailboxDepth < b.mailboxDepth
            }
        if let ordered { return descending ? !ordered : ordered }
        return Self.idOrder(a.id, b.id) ?? false
    }

    /// Whether `row` sorts before `other`.
    public func orders(_ row: ClientRow, before other: ClientRow) -> Bool {
        orders(row.sortFields, before: other.sortFields)
    }

    /// The key of a client whose place in this query's sort, ascending, is `rank`
    /// (``ClientQuery/SortKey/rank(of:number:)``): mapped so that the smaller key sorts first
    /// in this query's direction, ties by the client's number — the order of
    /// ``orders(_:before:)``.
    public func orderKey(rank: UInt64, number: UInt64, owner: Int) -> ClientOrderKey {
        ClientOrderKey(rank: sort.largestFirst != descending ? ~rank : rank, number: number, owner: owner)
    }
}

/// A client's place in one order of the client table as plain numbers: 24 bytes and no
/// references, so selecting the window of 20 000 clients is comparisons and moves, without a
/// retain, a release or a string comparison.
public struct ClientOrderKey: Sendable, Comparable {
    /// What the order sorts by, mapped so that the smaller sorts first in either direction.
    public var rank: UInt64
    /// The client's number (its id is `c` and the number in base 36): ties, ascending.
    public var number: UInt64
    /// Which of the node's shards holds the client.
    public var owner: Int

    public init(rank: UInt64, number: UInt64, owner: Int) {
        self.rank = rank
        self.number = number
        self.owner = owner
    }

    public static func < (a: ClientOrderKey, b: ClientOrderKey) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.number < b.number
    }
}

/// The order keys of the clients one query matches, sorted once: every window of that order
/// is then a slice, a node's outline a stride and its part of a key range a binary search, so
/// the work per snapshot is about the rows on screen, not all clients; an order by a figure
/// that moves is carried forward by the clients that moved (``moving(_:)``).
public struct SortedClientOrder: Sendable {
    /// Ascending: the first client of the order first.
    public let keys: [ClientOrderKey]

    public init(sorting keys: [ClientOrderKey]) {
        self.keys = keys.sorted()
    }

    private init(sorted keys: [ClientOrderKey]) {
        self.keys = keys
    }

    /// This order with the clients of `moved` (their new keys, matched by client number) in
    /// their new places: the same order when nothing moved, else one merge of what stayed with
    /// what moved, sorted by itself — no sort of every client.
    public func moving(_ moved: [ClientOrderKey]) -> SortedClientOrder {
        guard !moved.isEmpty else { return self }
        let movedNumbers = Set(moved.map(\.number))
        let arriving = moved.sorted()
        var merged: [ClientOrderKey] = []
        merged.reserveCapacity(keys.count + arriving.count)
        var next = 0
        for key in keys where !movedNumbers.contains(key.number) {
            while next < arriving.count, arriving[next] < key {
                merged.append(arriving[next])
                next += 1
            }
            merged.append(key)
        }
        merged += arriving[next...]
        return SortedClientOrder(sorted: merged)
    }

    /// The keys of `query`'s window (its offset and limit), in order.
    public func window(_ query: ClientQuery) -> ArraySlice<ClientOrderKey> {
        let start = min(max(0, query.offset), keys.count)
        return keys[start..<(start + min(max(0, query.limit), keys.count - start))]
    }

    /// The index of the first key for which `isBefore` is false (`isBefore` holds for a prefix).
    func firstIndex(notMeeting isBefore: (ClientOrderKey) -> Bool) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if isBefore(keys[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Between nodes, a key is `[rank, number, owner]`: the cluster's window steps carry hundreds.
extension ClientOrderKey: Codable {
    public init(from decoder: any Decoder) throws {
        var fields = try decoder.unkeyedContainer()
        self.init(rank: try fields.decode(UInt64.self), number: try fields.decode(UInt64.self), owner: try fields.decode(Int.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var fields = encoder.unkeyedContainer()
        try fields.encode(rank)
        try fields.encode(number)
        try fields.encode(owner)
    }
}

extension ClientQuery.SortKey {
    /// Whether ascending order puts the largest value first (the newest connection, the most
    /// recent activity), as the table shows age and idle time.
    var largestFirst: Bool { self == .age || self == .idle }

    /// Whether clients' places in this order change while nobody connects, leaves, subscribes
    /// or signs in: activity, message counts, rates and mailboxes move by themselves; ids,
    /// connection times, channel counts and addresses do not.
    public var movesByItself: Bool {
        switch self {
        case .idle, .messagesIn, .messagesOut, .rate, .mailbox: true
        case .id, .remote, .age, .channels: false
        }
    }

    /// A number as a rank: its IEEE 754 bits, made to compare as unsigned integers in numeric order.
    public static func rank(of value: Double) -> UInt64 {
        let bits = value.bitPattern
        return bits & (1 << 63) == 0 ? bits | (1 << 63) : ~bits
    }

    /// Where this key puts a client in ascending order, as one number (the id's number for
    /// ``id``, ``RemoteAddressRank`` for ``remote``).
    public func rank(of fields: ClientSortFields, number: UInt64) -> UInt64 {
        switch self {
        case .id: number
        case .remote: fields.remoteRank
        case .age: Self.rank(of: fields.connectedAt)
        case .idle: Self.rank(of: fields.lastActivity)
        case .channels: UInt64(fields.channelCount)
        case .messagesIn: UInt64(fields.messagesIn)
        case .messagesOut: UInt64(fields.messagesOut)
        case .rate: Self.rank(of: fields.rate)
        case .mailbox: UInt64(fields.mailboxDepth)
        }
    }
}
