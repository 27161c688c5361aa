public import Histogram

/// The one shape of latency histogram the hub, the metrics actor and the load generator record
/// into: microseconds, up to 60 s, so that histograms from any of them can be merged.
public enum LatencyHistogram {
    /// Largest latency recorded, in microseconds (60 s).
    public static let highestMicroseconds: UInt64 = 60_000_000

    /// An empty histogram; the hub keeps two significant digits, the load generator three.
    public static func make(precision: SignificantDigits = .two) -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: precision)
    }
}
