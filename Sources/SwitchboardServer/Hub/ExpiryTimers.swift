import HeapModule
import NIOCore

/// What a shard's expiring sessions wait for, soonest first, behind one scheduled task per shard:
/// an expiring session costs an entry here (about 40 bytes), not a scheduled task of its own
/// (about 450). Sessions that never expire have no entry. Confined to the shard's loop.
///
/// Each session waits for one thing at a time (``Wait``); setting a new one leaves the old
/// entry in the heap, where it is skipped when it comes up (it no longer matches ``waiting``),
/// and the heap is rebuilt when such stale entries outnumber the live ones.
struct ExpiryTimers {
    /// What a session waits for.
    enum Wait: Equatable {
        /// Its identity's expiry.
        case expiry
        /// A step towards an expiry further off than one wait may be (see
        /// ``Session/longestExpiryWait``): the wait is set again from there.
        case step
        /// The end of its refresh grace, after `refresh_required`.
        case grace
    }

    private struct Entry: Comparable {
        let at: NIODeadline
        let number: UInt64

        static func < (a: Entry, b: Entry) -> Bool { (a.at, a.number) < (b.at, b.number) }
    }

    private var heap = Heap<Entry>()
    /// What each expiring session waits for now, and until when, by session number.
    private var waiting: [UInt64: (at: NIODeadline, wait: Wait)] = [:]

    /// How many sessions wait for something.
    var count: Int { waiting.count }
    /// How many entries the heap holds, stale ones included (at most twice ``count`` plus 1024).
    var entries: Int { heap.count }

    /// Session `number` now waits for `wait` until `at` (instead of what it waited for before).
    mutating func set(_ number: UInt64, _ wait: Wait, at: NIODeadline) {
        waiting[number] = (at, wait)
        heap.insert(Entry(at: at, number: number))
        if heap.count > 2 * waiting.count + 1024 {
            heap = Heap(waiting.map { Entry(at: $0.value.at, number: $0.key) })
        }
    }

    /// Session `number` waits for nothing any more (it left, or no longer expires).
    mutating func remove(_ number: UInt64) {
        waiting.removeValue(forKey: number)
    }

    /// The sessions whose wait is over by `now`, with what they waited for; they wait for
    /// nothing afterwards.
    mutating func takeDue(now: NIODeadline) -> [(number: UInt64, wait: Wait)] {
        var due: [(number: UInt64, wait: Wait)] = []
        while let top = heap.min, top.at <= now {
            heap.removeMin()
            guard let current = waiting[top.number], current.at == top.at else { continue }
            waiting.removeValue(forKey: top.number)
            due.append((top.number, current.wait))
        }
        return due
    }

    /// When the soonest wait ends (stale entries at the top are dropped on the way).
    mutating func soonest() -> NIODeadline? {
        while let top = heap.min {
            if let current = waiting[top.number], current.at == top.at { return top.at }
            heap.removeMin()
        }
        return nil
    }
}
