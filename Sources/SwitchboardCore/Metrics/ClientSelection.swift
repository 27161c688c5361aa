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
    /// rest: the window's end is found among the first `offset + limit` (a bounded heap), or,
    /// for a window nearer the last row, among the last `count - offset` in reverse. Sorting
    /// all 20 000 clients to show 40 of them is what this avoids.
    public func select<Item>(_ items: [Item], by fields: (Item) -> ClientSortFields) -> [Item] {
        let start = min(max(0, offset), items.count)
        let end = min(items.count, start + max(0, min(limit, items.count)))
        guard start < end else { return [] }
        if end <= items.count - start {
            return Array(Self.smallest(end, of: items, fields: fields, before: orders)[start...])
        }
        let fromLast = Self.smallest(items.count - start, of: items, fields: fields) { orders($1, before: $0) }
        return Array(fromLast[(items.count - end)...].reversed())
    }

    /// The `count` first of `items` under `before`, in order: a max-heap of `count` keeps the
    /// best seen so far, O(n log count) comparisons and one array of `count`.
    static func smallest<Item>(
        _ count: Int, of items: [Item], fields: (Item) -> ClientSortFields, before: (ClientSortFields, ClientSortFields) -> Bool
    ) -> [Item] {
        guard count < items.count else {
            return items.map { (fields($0), $0) }.sorted { before($0.0, $1.0) }.map(\.1)
        }
        var heap: [(ClientSortFields, Item)] = []
        heap.reserveCapacity(count)
        func siftUp(_ index: Int) {
            var child = index
            while child > 0 {
                let parent = (child - 1) / 2
                guard before(heap[parent].0, heap[child].0) else { return }
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
                if left + 1 < heap.count, before(heap[left].0, heap[left + 1].0) { largest = left + 1 }
                guard before(heap[parent].0, heap[largest].0) else { return }
                heap.swapAt(parent, largest)
                parent = largest
            }
        }
        for item in items {
            let key = fields(item)
            if heap.count < count {
                heap.append((key, item))
                siftUp(heap.count - 1)
            } else if count > 0, before(key, heap[0].0) {
                heap[0] = (key, item)
                siftDown()
            }
        }
        return heap.sorted { before($0.0, $1.0) }.map(\.1)
    }
}
