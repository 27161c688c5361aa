import Foundation

/// A raw value before it is checked: text from a flag or the environment, or a typed TOML value.
enum SettingValue {
    case text(String)
    case integer(Int)
    case number(Double)
    case boolean(Bool)

    var shown: String {
        switch self {
        case .text(let text): "\"\(text)\""
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .boolean(let value): "\(value)"
        }
    }
}

extension SettingValue {
    func text(nonEmpty: Bool) throws(SettingError) -> String {
        guard case .text(let text) = self, !(nonEmpty && text.isEmpty) else { throw SettingError(expected: "a non-empty string") }
        return text
    }

    func boolean() throws(SettingError) -> Bool {
        switch self {
        case .boolean(let value): return value
        case .text(let text):
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: break
            }
        default: break
        }
        throw SettingError(expected: "true or false")
    }

    func integer(in range: ClosedRange<Int>) throws(SettingError) -> Int {
        let expected = "an integer from \(range.lowerBound) to \(range.upperBound)"
        let value: Int?
        switch self {
        case .integer(let number): value = number
        case .text(let text): value = Int(text.trimmingCharacters(in: .whitespaces))
        default: value = nil
        }
        guard let value, range.contains(value) else { throw SettingError(expected: expected) }
        return value
    }

    func byteCount(in range: ClosedRange<Int>) throws(SettingError) -> Int {
        let expected = "a size from \(range.lowerBound) to \(range.upperBound) bytes, e.g. 65536, 64KiB or 1MiB"
        var result: Int?
        switch self {
        case .integer(let number): result = number
        case .text(let raw): result = ByteSize.parse(raw)
        default: result = nil
        }
        guard let result, range.contains(result) else { throw SettingError(expected: expected) }
        return result
    }

    func number(atLeast minimum: Double) throws(SettingError) -> Double {
        let value: Double?
        switch self {
        case .integer(let number): value = Double(number)
        case .number(let number): value = number
        case .text(let text): value = Double(text.trimmingCharacters(in: .whitespaces))
        case .boolean: value = nil
        }
        guard let value, value.isFinite, value >= minimum else { throw SettingError(expected: "a number ≥ \(minimum)") }
        return value
    }

    /// Seconds as a number (`5`, `0.5`) or text with a unit (`500ms`, `30s`, `10m`, `2h`).
    func duration(allowZero: Bool, maxSeconds: Double = 86_400) throws(SettingError) -> Duration {
        let expected =
            (allowZero ? "a number of seconds ≥ 0" : "a number of seconds > 0")
            + ", e.g. 5 or 0.5, or with a unit: 500ms, 30s, 10m, 2h (at most \(Int(maxSeconds)) s)"
        var value = self
        if case .text(let text) = self {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            for (unit, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where trimmed.hasSuffix(unit) {
                guard let amount = Double(trimmed.dropLast(unit.count)) else { throw SettingError(expected: expected) }
                value = .number(amount * factor)
                break
            }
        }
        guard let seconds = try? value.number(atLeast: 0), allowZero || seconds > 0, seconds <= maxSeconds else {
            throw SettingError(expected: expected)
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

/// A size as an operator writes it: `65536`, `64KiB`, `256MiB`, `1GiB` (also `KB`, `MB`, `B`).
public enum ByteSize {
    /// The size in bytes, or nil when `raw` is not one.
    public static func parse(_ raw: String) -> Int? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("KiB", 1024), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("B", 1)]
        guard let (suffix, multiplier) = units.first(where: { text.hasSuffix($0.0) }) else { return Int(text) }
        return Int(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * multiplier }
    }
}
