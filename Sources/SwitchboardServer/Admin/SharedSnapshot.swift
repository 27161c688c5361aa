import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardCore

/// What every admin stream's snapshot holds alike — everything but the reader's client window —
/// gathered and encoded once for the streams that send within `freshness` of each other
/// (streams with one interval send on one beat), so another attached console costs the server
/// its own window, not another snapshot.
final class SharedSnapshot: Sendable {
    /// The encoded snapshot cut where its client window goes: `head`, the window, `tail`.
    struct Parts: Sendable {
        let head: [UInt8]
        let tail: [UInt8]
    }

    /// The encoder's snapshot had no `clients` where it was looked for.
    struct NoClientWindow: Error {}

    private struct Entry {
        let madeAt: NIODeadline
        let parts: Task<Parts, any Error>
    }

    let collector: MetricsCollector
    let freshness: TimeAmount
    private let latest = NIOLockedValueBox<Entry?>(nil)

    init(collector: MetricsCollector, freshness: TimeAmount = .milliseconds(100)) {
        self.collector = collector
        self.freshness = freshness
    }

    /// The snapshot around `window`, encoded as ``AdminAPI/encoder`` encodes it whole.
    func encoded(around window: ClientWindow, into buffer: inout ByteBuffer) async throws {
        let parts = try await current()
        buffer.writeBytes(parts.head)
        buffer.writeBytes(try AdminAPI.encoder.encode(window))
        buffer.writeBytes(parts.tail)
    }

    /// The parts made within `freshness`, or new ones (which streams asking meanwhile share).
    private func current() async throws -> Parts {
        let now = NIODeadline.now()
        let parts = latest.withLockedValue { latest in
            if let entry = latest, now - entry.madeAt <= freshness { return entry.parts }
            let parts = Task { [collector] in try Self.cut(AdminAPI.encoder.encode(await collector.snapshot(query: nil))) }
            latest = Entry(madeAt: now, parts: parts)
            return parts
        }
        return try await parts.value
    }

    /// The key of the snapshot's client window.
    private static let key = Array("\"clients\":".utf8)
    /// That key with an empty window, as the encoder writes it.
    private static let emptyWindow = key + Array((try? AdminAPI.encoder.encode(ClientWindow())) ?? Data())

    /// `encoded` (a snapshot with an empty client window) cut around that window's value.
    static func cut(_ encoded: Data) throws -> Parts {
        let (key, empty) = (Self.key, Self.emptyWindow)
        let bytes = Array(encoded)
        guard let start = bytes.firstRange(of: empty)?.lowerBound else { throw NoClientWindow() }
        return Parts(head: Array(bytes[..<(start + key.count)]), tail: Array(bytes[(start + empty.count)...]))
    }
}
