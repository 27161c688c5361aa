import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import SwitchboardCore

/// The order keys of this node's clients for recent orders (a ``ClientQuery`` without its
/// window), sorted once and shared by the queries that want one order: several consoles on one
/// view, a console paging through it, the other nodes of a cluster asking for their part.
///
/// Which clients a query matches is always exact: a client connecting, leaving, subscribing,
/// unsubscribing, joining a presence channel or signing in starts a new generation and the next
/// query makes a new pass. An order that does not move by itself (id, age, channels:
/// ``ClientQuery/SortKey/movesByItself``) is kept for as long as its generation lasts, so idle
/// clients cost a console's snapshot only the rows on its screen. An order by a figure that
/// moves by itself (rate, messages, mailbox, idle) is reused for at most `freshness`; the rows
/// of the window are built fresh by the shards either way. Bounded: at most `capacity` orders
/// are kept at once; a new one past that replaces the one made longest ago.
final class ClientOrderCache: Sendable {
    private struct Entry {
        let generation: UInt64
        let madeAt: NIODeadline
        let order: Task<SortedClientOrder, Never>
        let movesByItself: Bool

        func isCurrent(generation current: UInt64, now: NIODeadline, freshness: TimeAmount) -> Bool {
            generation == current && (!movesByItself || now - madeAt <= freshness)
        }
    }

    let freshness: TimeAmount
    let capacity: Int
    private let generation = Atomic<UInt64>(0)
    private let entries = NIOLockedValueBox<[ClientQuery: Entry]>([:])
    private let passes = Atomic<Int>(0)

    init(freshness: TimeAmount = .milliseconds(100), capacity: Int = 16) {
        self.freshness = freshness
        self.capacity = capacity
    }

    /// Passes made over the clients since start (for tests and the curious).
    var passesMade: Int { passes.load(ordering: .relaxed) }

    /// Which clients match some query may have changed (called on the shards' loops).
    func membershipChanged() {
        generation.add(1, ordering: .relaxed)
    }

    /// `query`'s order: that of a pass still current for it, or a new pass by `gather` (which
    /// queries arriving meanwhile share).
    func order(for query: ClientQuery, gather: @escaping @Sendable () async -> [ClientOrderKey]) async -> SortedClientOrder {
        var order = query
        order.offset = 0
        order.limit = 0
        let now = NIODeadline.now()
        let current = generation.load(ordering: .relaxed)
        let freshness = freshness
        let pass: Task<SortedClientOrder, Never> = entries.withLockedValue { entries in
            if let entry = entries[order], entry.isCurrent(generation: current, now: now, freshness: freshness) { return entry.order }
            let pass = Task {
                passes.add(1, ordering: .relaxed)
                return SortedClientOrder(sorting: await gather())
            }
            entries = entries.filter { $0.value.isCurrent(generation: current, now: now, freshness: freshness) }
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.madeAt < $1.value.madeAt })?.key {
                entries[oldest] = nil
            }
            entries[order] = Entry(generation: current, madeAt: now, order: pass, movesByItself: query.sort.movesByItself)
            return pass
        }
        return await pass.value
    }
}
