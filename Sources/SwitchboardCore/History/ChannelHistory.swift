public import DequeModule
public import NIOCore
import Synchronization

/// Where a subscriber stands in a channel's stream: the last `seq` it has and the channel's
/// `epoch` at the time. A position is only meaningful within its epoch.
public struct StreamPosition: Equatable, Sendable {
    public var seq: UInt64
    public var epoch: String

    public init(seq: UInt64, epoch: String) {
        self.seq = seq
        self.epoch = epoch
    }
}

/// One channel's recent messages, kept by the shard that numbers the channel: the encoded
/// native frames (the same bytes its subscribers got, not a copy), bounded by the channel's
/// policy, with the channel's epoch.
///
/// The messages are contiguous: every `seq` from ``firstSeq`` to ``lastSeq`` is held, so a
/// position is recoverable exactly when nothing after it has been dropped.
public struct ChannelHistory: Sendable {
    /// One kept message.
    public struct Entry: Sendable {
        public let seq: UInt64
        /// The complete native `message` frame, as it was fanned out.
        public let frame: ByteBuffer

        public init(seq: UInt64, frame: ByteBuffer) {
            self.seq = seq
            self.frame = frame
        }

        /// Bytes the entry costs: its frame plus a fixed overhead for the entry itself.
        public var cost: Int { frame.readableBytes + 48 }
    }

    /// What a subscriber asking to resume from a position gets.
    public enum Recovery: Sendable {
        /// Every message after the position, in order (empty when it missed nothing).
        case recovered([Entry])
        /// The epoch changed or some message after the position is gone: nothing is replayed.
        case notRecovered
    }

    /// Changes whenever the channel's history is lost (a restart, expiry); a short random string.
    public let epoch: String
    public let policy: HistoryPolicy
    /// The channel's last `seq` (0 when nothing was published yet).
    public private(set) var lastSeq: UInt64
    /// Bytes the kept entries cost (see ``Entry/cost``).
    public private(set) var bytes = 0
    /// When the history was created or last appended to (monotonic nanoseconds).
    public private(set) var touchedAt: UInt64
    private var entries = Deque<Entry>()

    /// An empty history continuing a channel whose last `seq` is `lastSeq`.
    public init(policy: HistoryPolicy, lastSeq: UInt64, now: UInt64, epoch: String = ChannelHistory.makeEpoch()) {
        self.policy = policy
        self.lastSeq = lastSeq
        self.touchedAt = now
        self.epoch = epoch
    }

    /// Eight random characters of `[A-Za-z0-9]`.
    public static func makeEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        return makeEpoch(from: generator.next())
    }

    /// Eight characters of `[A-Za-z0-9]` spelling `bits` (its low 47 bits or so): for callers
    /// that draw many epochs from their own cheap generator (see ``EpochSource``).
    public static func makeEpoch(from bits: UInt64) -> String {
        var value = bits
        var characters = [UInt8](repeating: 0, count: 8)
        for index in characters.indices {
            characters[index] = epochAlphabet[Int(value % 62)]
            value /= 62
        }
        return String(decoding: characters, as: UTF8.self)
    }

    private static let epochAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// The channel's position now.
    public var position: StreamPosition { StreamPosition(seq: lastSeq, epoch: epoch) }
    /// Messages held.
    public var count: Int { entries.count }
    /// The oldest `seq` held, if any.
    public var firstSeq: UInt64? { entries.first?.seq }

    /// Keeps message `seq` (the next one: `lastSeq + 1`), dropping the oldest beyond the size.
    /// Returns the bytes dropped.
    public mutating func append(seq: UInt64, frame: ByteBuffer, now: UInt64) -> Int {
        precondition(seq > lastSeq, "history entries are appended in order")
        if seq != lastSeq + 1 {
            // A gap can never be replayed across: start over after it.
            entries.removeAll()
            bytes = 0
        }
        let entry = Entry(seq: seq, frame: frame)
        entries.append(entry)
        bytes += entry.cost
        lastSeq = seq
        touchedAt = now
        var dropped = 0
        while entries.count > policy.size, let oldest = removeOldest() { dropped += oldest }
        return dropped
    }

    /// Drops the oldest message (the node's byte cap); returns its cost, nil when empty.
    @discardableResult
    public mutating func removeOldest() -> Int? {
        guard let oldest = entries.popFirst() else { return nil }
        bytes -= oldest.cost
        return oldest.cost
    }

    /// Whether the history outlived its time to live at `now`.
    public func isExpired(now: UInt64) -> Bool {
        now > touchedAt && Duration.nanoseconds(now - touchedAt) > policy.ttl
    }

    /// Whether every message after `position` is still held (in this epoch).
    public func canRecover(from position: StreamPosition) -> Bool {
        guard position.epoch == epoch, position.seq <= lastSeq else { return false }
        if position.seq == lastSeq { return true }
        guard let firstSeq else { return false }
        return firstSeq <= position.seq + 1
    }

    /// Every message after `position`, or ``Recovery/notRecovered`` when that is not possible.
    public func recover(from position: StreamPosition) -> Recovery {
        guard canRecover(from: position) else { return .notRecovered }
        return .recovered(Array(entries.suffix(Int(lastSeq - position.seq))))
    }

    /// At most `limit` messages: the first ones after `seq`, or without it the latest ones.
    public func page(after seq: UInt64?, limit: Int) -> [Entry] {
        guard let seq else { return Array(entries.suffix(limit)) }
        let after = entries.suffix(Int(lastSeq - min(seq, lastSeq)))
        return Array(after.prefix(limit))
    }
}

/// Fresh epochs without a system call each: a random seed drawn once, and a counter mixed by
/// SplitMix64, so every epoch it gives differs from the ones before (for 2^64 draws) and none
/// can be guessed from another. Safe from any thread.
public final class EpochSource: Sendable {
    private let seed: UInt64
    private let counter = Atomic<UInt64>(0)

    public init() {
        var generator = SystemRandomNumberGenerator()
        seed = generator.next()
    }

    /// The next epoch.
    public func next() -> String {
        var z = seed &+ counter.wrappingAdd(1, ordering: .relaxed).newValue &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return ChannelHistory.makeEpoch(from: z ^ (z >> 31))
    }
}
