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
/// query makes a new pass over the clients. Within a generation:
/// - an order that does not move by itself (id, remote, age, channels:
///   ``ClientQuery/SortKey/movesByItself``) is kept as it is, so idle clients cost a console's
///   snapshot only the rows on its screen;
/// - an order by a figure that moves (rate, messages, mailbox, idle) follows the metrics
///   collector's samples of the clients' figures (once a second): after a sample it is carried
///   forward by the clients whose figures moved at that sample
///   (``SortedClientOrder/moving(_:)``), nothing when none did; only when the shards sampled
///   more than once since does it take a new pass.
///
/// The rows of a window are built fresh by the shards either way. Bounded: at most `capacity`
/// orders are kept at once; a new one past that replaces the one used longest ago.
final class ClientOrderCache: Sendable {
    /// One shard's keys for an order and the sample of figures they reflect (see
    /// ``HubShard/figureSamples``).
    typealias ShardKeys = (sample: UInt64, keys: [ClientOrderKey])

    /// An order and, shard by shard, the sample of figures it reflects.
    private struct Pass: Sendable {
        let order: SortedClientOrder
        let samples: [UInt64]
    }

    private struct Entry {
        let generation: UInt64
        /// ``samplesTaken`` when the order was made or last carried forward.
        let sample: UInt64
        let usedAt: NIODeadline
        let pass: Task<Pass, Never>
        let movesByItself: Bool
    }

    let capacity: Int
    private let generation = Atomic<UInt64>(0)
    private let samplesTaken = Atomic<UInt64>(0)
    private let entries = NIOLockedValueBox<[ClientQuery: Entry]>([:])
    private let passes = Atomic<Int>(0)
    private let carries = Atomic<Int>(0)

    init(capacity: Int = 16) {
        self.capacity = capacity
    }

    /// Passes made over all clients since start (for tests and the curious).
    var passesMade: Int { passes.load(ordering: .relaxed) }
    /// Orders carried forward by the clients that moved, instead of a pass (likewise).
    var ordersCarriedForward: Int { carries.load(ordering: .relaxed) }

    /// Which clients match some query may have changed (called on the shards' loops).
    func membershipChanged() {
        generation.add(1, ordering: .relaxed)
    }

    /// Every shard has sampled its clients' figures once more.
    func figuresSampled() {
        samplesTaken.add(1, ordering: .relaxed)
    }

    /// `query`'s order: the one kept for it while current, carried forward by `moved` when its
    /// figures were sampled since, or a new pass by `gather` (which queries arriving meanwhile
    /// share). `moved` is given the samples the kept order reflects, shard by shard, and answers
    /// each shard's keys of the clients that moved since, or nil when it cannot tell.
    func order(
        for query: ClientQuery, gather: @escaping @Sendable () async -> [ShardKeys],
        moved: @escaping @Sendable (_ since: [UInt64]) async -> [ShardKeys]?
    ) async -> SortedClientOrder {
        var order = query
        order.offset = 0
        order.limit = 0
        let now = NIODeadline.now()
        let current = generation.load(ordering: .relaxed)
        let sample = samplesTaken.load(ordering: .relaxed)
        let pass: Task<Pass, Never> = entries.withLockedValue { entries in
            let kept = entries[order].flatMap { $0.generation == current ? $0 : nil }
            if let kept, !kept.movesByItself || kept.sample == sample {
                entries[order] = Entry(generation: current, sample: kept.sample, usedAt: now, pass: kept.pass, movesByItself: kept.movesByItself)
                return kept.pass
            }
            let pass: Task<Pass, Never>
            if let previous = kept?.pass {
                pass = Task {
                    let previous = await previous.value
                    guard let parts = await moved(previous.samples) else { return await self.pass(gather) }
                    carries.add(1, ordering: .relaxed)
                    return Pass(order: previous.order.moving(parts.flatMap(\.keys)), samples: parts.map(\.sample))
                }
            } else {
                pass = Task { await self.pass(gather) }
            }
            entries = entries.filter { $0.value.generation == current }
            if entries[order] == nil, entries.count >= capacity, let oldest = entries.min(by: { $0.value.usedAt < $1.value.usedAt })?.key {
                entries[oldest] = nil
            }
            entries[order] = Entry(generation: current, sample: sample, usedAt: now, pass: pass, movesByItself: query.sort.movesByItself)
            return pass
        }
        return await pass.value.order
    }

    private func pass(_ gather: @Sendable () async -> [ShardKeys]) async -> Pass {
        passes.add(1, ordering: .relaxed)
        let parts = await gather()
        return Pass(order: SortedClientOrder(sorting: parts.flatMap(\.keys)), samples: parts.map(\.sample))
    }
}
