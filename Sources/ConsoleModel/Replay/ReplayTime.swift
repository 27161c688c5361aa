public import SwitchboardCore

/// A moment of a recording as an operator writes it (`--at`): a UTC time of day `03:12:05` (on
/// the recording's day; `03:12` works too), a full ISO time `2026-12-07T03:12:05Z`, or an offset
/// from the start `+90s`, `+2m`, `+1h30m`, `+90` (seconds).
public enum ReplayTime {
    /// A `--at` that is none of those.
    public struct Invalid: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "bad time '\(text)': use a UTC time of day (03:12:05), an ISO time (2026-12-07T03:12:05Z) or an offset from the start (+90s, +2m)"
        }
    }

    /// Seconds since 1970 for `text`, in a recording that starts at `start`. A time of day
    /// earlier than the start's is on the next day (a recording that ran past midnight).
    public static func parse(_ text: String, start: Double) throws(Invalid) -> Double {
        let trimmed = trim(text)
        if trimmed.hasPrefix("+") {
            guard let offset = offset(trimmed.dropFirst()) else { throw Invalid(text: text) }
            return start + offset
        }
        if trimmed.contains("T") {
            // The parser is lenient (it would read hour 99 as the next days): the time must write back the same.
            guard let time = TraceLine.parseISOTime(trimmed.hasSuffix("Z") ? trimmed : trimmed + "Z"),
                TraceLine.isoTime(time).hasPrefix(trimmed.prefix(19))
            else { throw Invalid(text: text) }
            return time
        }
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<24).contains(hours),
            (0..<60).contains(minutes)
        else { throw Invalid(text: text) }
        var seconds = 0.0
        if parts.count == 3 {
            guard let value = Double(parts[2]), value >= 0, value < 60 else { throw Invalid(text: text) }
            seconds = value
        }
        let day = (start / 86400).rounded(.down) * 86400
        let time = day + Double(hours * 3600 + minutes * 60) + seconds
        return time < start.rounded(.down) ? time + 86400 : time
    }

    /// `90s`, `2m`, `1h30m`, `90` (seconds), `1.5m`.
    private static func offset(_ text: Substring) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        for character in text {
            if character.isNumber || character == "." {
                number.append(character)
                continue
            }
            let unit: Double
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            default: return nil
            }
            guard let value = Double(number) else { return nil }
            total += value * unit
            number = ""
            sawUnit = true
        }
        if !number.isEmpty {
            guard let value = Double(number) else { return nil }
            total += value
        } else if !sawUnit {
            return nil
        }
        return total
    }
}
