import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import SwitchboardCore

/// The order keys of this node's clients for recent orders (a ``ClientQuery`` without its
/// window), shared by the queries that want one order at about the same time: several consoles
/// on one view, a console paging through it, the other nodes of a cluster asking for their part.
///
/// One pass over every client is made per order, and its keys are reused for at most
/// `freshness`. Which clients a query matches is always exact: a client connecting, leaving,
/// subscribing, unsubscribing, joining a presence channel or signing in starts a new
/// generation and the next query makes a new pass. Only the order by a figure that moves by
/// itself (rate, messages, mailbox, idle) may be up to `freshness` old; the rows of the window
/// are built fresh by the shards. Bounded: at most `capacity` orders are kept at once; past
/// that a query makes its own pass.
final class ClientOrderCache: Sendable {
    private struct Entry {
        let generation: UInt64
        let madeAt: NIODeadline
        let keys: Task<[ClientOrderKey], Never>
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

    /// `query`'s order keys: those of a pass made for the same order within `freshness` and no
    /// membership change, or a new pass by `gather` (which queries arriving meanwhile share).
    func keys(for query: ClientQuery, gather: @escaping @Sendable () async -> [ClientOrderKey]) async -> [ClientOrderKey] {
        var order = query
        order.offset = 0
        order.limit = 0
        let now = NIODeadline.now()
        let current = generation.load(ordering: .relaxed)
        let pass: Task<[ClientOrderKey], Never> = entries.withLockedValue { entries in
            if let entry = entries[order], entry.generation == current, now - entry.madeAt <= freshness { return entry.keys }
            let pass = Task {
                passes.add(1, ordering: .relaxed)
                return await gather()
            }
            entries = entries.filter { $0.value.generation == current && now - $0.value.madeAt <= freshness }
            if entries.count < capacity { entries[order] = Entry(generation: current, madeAt: now, keys: pass) }
            return pass
        }
        return await pass.value
    }
}
