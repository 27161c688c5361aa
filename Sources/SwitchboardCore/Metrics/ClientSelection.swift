/// What the client table sorts by: a client's figures without its rows' derived parts (channel
/// names, users, user agent), cheap to take from every client for every query.
public struct ClientSortFields: Sendable, Equatable {
    public var id: String
    public var remoteAddress: String
    public var connectedAt: Double
    public var lastActivity: Double
    public var channelCount: Int
    public var messagesIn: Int
    public var messagesOut: Int
    public var rate: Double
    public var mailboxDepth: Int

    public init(
        id: String, remoteAddress: String, connectedAt: Double, lastActivity: Double, channelCount: Int, messagesIn: Int, messagesOut: Int,
        rate: Double, mailboxDepth: Int
    ) {
        self.id = id
        self.remoteAddress = remoteAddress
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
            id: id, remoteAddress: remoteAddress, connectedAt: connectedAt, lastActivity: lastActivity, channelCount: channels.count,
            messagesIn: messagesIn, messagesOut: messagesOut, rate: rate, mailboxDepth: mailbox.depth)
    }
}

extension ClientQuery {
    /// Whether `a` sorts before `b`; ties break on id so windows are stable.
    public func orders(_ a: ClientSortFields, before b: ClientSortFields) -> Bool {
        let ordered: Bool? =
            switch sort {
            case .id: Self.idOrder(a.id, b.id)
            case .remote: a.remoteAddress == b.remoteAddress ? nil : a.remoteAddress < b.remoteAddress
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

    /// The elements of `items` that fall in this query's window, in order, without sorting the
    /// rest (see ``windowSlice(_:before:)``).
    public func select<Item>(_ items: [Item], by fields: (Item) -> ClientSortFields) -> [Item] {
        windowSlice(items.map { (fields($0), $0) }) { orders($0.0, before: $1.0) }.map(\.1)
    }

    /// The window's elements under `before`: its end is found among the first `offset + limit`
    /// (a bounded heap), or, for a window nearer the last element, among the last
    /// `count - offset` in reverse. Sorting all 20 000 clients to show 40 of them is what this
    /// avoids.
    func windowSlice<Element>(_ items: [Element], before: (Element, Element) -> Bool) -> [Element] {
        let start = min(max(0, offset), items.count)
        let end = min(items.count, start + max(0, min(limit, items.count)))
        guard start < end else { return [] }
        if end <= items.count - start {
            return Array(Self.smallest(end, of: items, before: before)[start...])
        }
        let fromLast = Self.smallest(items.count - start, of: items) { before($1, $0) }
        return Array(fromLast[(items.count - end)...].reversed())
    }

    /// The `count` first of `items` under `before`, in order: a max-heap of `count` keeps the
    /// best seen so far, O(n log count) comparisons and one array of `count`.
    static func smallest<Element>(_ count: Int, of items: [Element], before: (Element, Element) -> Bool) -> [Element] {
        guard count < items.count else { return items.sorted(by: before) }
        var heap: [Element] = []
        heap.reserveCapacity(count)
        func siftUp(_ index: Int) {
            var child = index
            while child > 0 {
                let parent = (child - 1) / 2
                guard before(heap[parent], heap[child]) else { return }
                heap.swapAt(parent, child)
                child = parent
            }
        }
        func siftDown() {
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { return }
                var largest = left
                if left + 1 < heap.count, before(heap[left], heap[left + 1]) { largest = left + 1 }
                guard before(heap[parent], heap[largest]) else { return }
                heap.swapAt(parent, largest)
                parent = largest
            }
        }
        for item in items {
            if heap.count < count {
                heap.append(item)
                siftUp(heap.count - 1)
            } else if count > 0, before(item, heap[0]) {
                heap[0] = item
                siftDown()
            }
        }
        return heap.sorted(by: before)
    }

    /// Whether this query's order compares plain numbers (``ClientOrderKey``): every sort key
    /// but the remote address.
    public var ordersByNumbers: Bool { sort != .remote }

    /// The key of a client whose sort value (``SortKey/value(of:number:)``) is `value`: the
    /// value mapped so that the smaller key sorts first in this query's direction, ties by the
    /// client's number — the same order as ``orders(_:before:)``.
    public func orderKey(value: Double, number: UInt64, owner: Int) -> ClientOrderKey {
        // IEEE 754 bits, made to compare as unsigned integers in numeric order.
        let bits = value.bitPattern
        var rank = bits & (1 << 63) == 0 ? bits | (1 << 63) : ~bits
        if sort.largestFirst != descending { rank = ~rank }
        return ClientOrderKey(rank: rank, number: number, owner: owner)
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
/// the work per snapshot is about the rows on screen, not all clients (see ``ClientOrderCache``
/// for how long one sort is reused).
public struct SortedClientOrder: Sendable {
    /// Ascending: the first client of the order first.
    public let keys: [ClientOrderKey]

    public init(sorting keys: [ClientOrderKey]) {
        self.keys = keys.sorted()
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

    /// What this key sorts a client by, as a number (its id's number for ``id``; nothing for
    /// ``remote``, which sorts by text).
    public func value(of fields: ClientSortFields, number: UInt64) -> Double {
        switch self {
        case .id: Double(number)
        case .remote: 0
        case .age: fields.connectedAt
        case .idle: fields.lastActivity
        case .channels: Double(fields.channelCount)
        case .messagesIn: Double(fields.messagesIn)
        case .messagesOut: Double(fields.messagesOut)
        case .rate: fields.rate
        case .mailbox: Double(fields.mailboxDepth)
        }
    }
}
