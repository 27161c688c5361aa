import Histogram
import Synchronization
import SwitchboardCore

/// What the proxy client measured, per proxy: requests, failures by reason, the durations of the
/// requests that were sent since start (for the console's p99), and the same durations kept
/// until `/metrics` takes them (at most ``maxPendingDurations``
/// between two scrapes; beyond that durations are not kept, rather than memory growing).
final class ProxyStatistics: Sendable {
    /// One proxy's figures.
    struct Figures: Sendable {
        var requests = 0
        var failures: [ProxyFailure: Int] = [:]
        var pendingDurations: [Double] = []
        /// Microseconds, since start.
        var latency = LatencyHistogram.make()
    }

    static let maxPendingDurations = 100_000
    private let figures = Mutex<[ProxyKind: Figures]>([:])

    /// Records one question: its duration when it was sent (nil when it was refused before
    /// leaving), and why it failed, if it did.
    func record(_ kind: ProxyKind, seconds: Double?, failure: ProxyFailure?) {
        figures.withLock { all in
            all[kind, default: Figures()].requests += 1
            if let failure { all[kind]!.failures[failure, default: 0] += 1 }
            guard let seconds else { return }
            all[kind]!.latency.record(min(UInt64(seconds * 1e6), LatencyHistogram.highestMicroseconds))
            if all[kind]!.pendingDurations.count < Self.maxPendingDurations { all[kind]!.pendingDurations.append(seconds) }
        }
    }

    /// Every proxy's figures as they stand.
    func current() -> [ProxyKind: Figures] {
        figures.withLock { $0 }
    }

    /// Every proxy's figures, handing over the durations recorded since the last call.
    func takeForExport() -> [ProxyKind: Figures] {
        figures.withLock { all in
            let taken = all
            for kind in all.keys { all[kind]!.pendingDurations.removeAll(keepingCapacity: true) }
            return taken
        }
    }
}
