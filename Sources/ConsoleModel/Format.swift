import SwitchboardCore

/// Human units for a dashboard: `1.2k`, `3.4M`, `12s`, `3m05s`, `1.2MB`.
public enum Format {
    /// `x` with one decimal: 1.25 → "1.3" (no Foundation).
    static func oneDecimal(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    /// A count or rate: `999`, `1.2k`, `12k`, `3.4M`, `1.2G`; fractions below 10 keep one decimal.
    public static func count(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let sign = value < 0 ? "-" : ""
        let v = abs(value)
        let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, unit) in units where v >= scale * 0.9995 {
            let scaled = v / scale
            return sign + (scaled < 9.95 ? oneDecimal(scaled) : String(Int(scaled.rounded()))) + unit
        }
        if v > 0 && v < 9.95 && v != v.rounded() { return sign + oneDecimal(v) }
        return sign + String(Int(v.rounded()))
    }

    public static func count(_ value: Int) -> String { count(Double(value)) }

    /// A byte count: `512B`, `1.2KB`, `34MB`, `1.1GB` (powers of 1024).
    public static func bytes(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let v = max(0, value)
        let units: [(Double, String)] = [(1_073_741_824, "GB"), (1_048_576, "MB"), (1024, "KB")]
        for (scale, unit) in units where v >= scale * 0.9995 {
            let scaled = v / scale
            return (scaled < 9.95 ? oneDecimal(scaled) : String(Int(scaled.rounded()))) + unit
        }
        return String(Int(v.rounded())) + "B"
    }

    /// A duration: `12s`, `3m05s`, `2h03m`, `4d02h`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        let s = max(0, Int(seconds))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h\(two(s % 3600 / 60))m" }
        return "\(s / 86400)d\(two(s % 86400 / 3600))h"
    }

    /// A latency in microseconds: `850µs`, `1.2ms`, `3.4s` (`us` in ASCII).
    public static func micros(_ value: UInt64, ascii: Bool = false) -> String {
        let v = Double(value)
        if v < 1000 { return "\(value)" + (ascii ? "us" : "µs") }
        if v < 1_000_000 { return (v < 9950 ? oneDecimal(v / 1000) : String(Int((v / 1000).rounded()))) + "ms" }
        return oneDecimal(v / 1_000_000) + "s"
    }

    /// Digits grouped by thousands: `12,345`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(abs(value))
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return (value < 0 ? "-" : "") + result
    }

    /// Wall-clock time of day, UTC: `13:04:05`.
    public static func clock(_ time: Double) -> String {
        guard time.isFinite else { return "--:--:--" }
        let s = ((Int(time) % 86400) + 86400) % 86400
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(s / 3600)):\(two(s % 3600 / 60)):\(two(s % 60))"
    }

    /// Wall-clock time of day with milliseconds, UTC: `13:04:05.123`.
    public static func clockMillis(_ time: Double) -> String {
        guard time.isFinite else { return "--:--:--.---" }
        let total = (time * 1000).rounded()
        let millis = String(Int(total.truncatingRemainder(dividingBy: 1000)))
        return clock((total / 1000).rounded(.down)) + "." + String(repeating: "0", count: 3 - millis.count) + millis
    }
}

/// A sparkline of the last `width` values, scaled to their maximum, exactly `width` columns
/// wide (left-padded with spaces when there are fewer values). `▁▂▃▄▅▆▇█`, or ` .:-=+*#` in ASCII.
public func sparkline(_ values: [Double], width: Int, ascii: Bool) -> String {
    guard width > 0 else { return "" }
    let glyphs: [Character] = ascii ? [" ", ".", ":", "-", "=", "+", "*", "#"] : ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    let shown = values.suffix(width).map { $0.isFinite ? max(0, $0) : 0 }
    let top = shown.max() ?? 0
    var line = String(repeating: " ", count: width - shown.count)
    for value in shown {
        let level = top > 0 ? Int((value / top * 7).rounded()) : 0
        line.append(glyphs[min(7, max(0, level))])
    }
    return line
}

extension ClientRow {
    /// `open`, or `closing 4002 slow consumer` while its close handshake runs.
    var stateDescription: String {
        guard state == .closing else { return "open" }
        return ["closing", closeCode.map(String.init), closeReason].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}
