import SwitchboardCore
import TOMLKit

/// Per-channel-pattern history policies from the config file's `[[channels]]` tables:
///
/// ```toml
/// [[channels]]
/// pattern = "chat:*"
/// history_size = 100
/// history_ttl = "10m"
/// ```
///
/// Keys are spelled like those of `[[apps]]` tables; the first table whose pattern matches a
/// channel decides, and a key a table leaves out is the global setting's (`history-size`,
/// `history-ttl`).
enum ChannelSettings {
    static let keys = ["pattern", "history_size", "history_ttl"]

    /// Reads the config file's `channels` value: an array of `[[channels]]` tables. An error
    /// names the table (0-based) it was found in.
    static func rules(from value: any TOMLValueConvertible) throws(SettingError) -> [HistorySettings.Rule] {
        guard let list = value.array else { throw SettingError(expected: "[[channels]] tables with a pattern") }
        var rules: [HistorySettings.Rule] = []
        for (index, element) in list.enumerated() {
            do throws(SettingError) {
                guard let table = element.table else { throw SettingError(expected: "[[channels]] tables with a pattern") }
                rules.append(try rule(from: table))
            } catch {
                throw SettingError(expected: error.expected, table: index)
            }
        }
        return rules
    }

    /// Reads one `[[channels]]` table.
    static func rule(from table: TOMLTable) throws(SettingError) -> HistorySettings.Rule {
        for key in table.keys where !keys.contains(key) {
            throw SettingError(expected: "only the keys \(keys.joined(separator: ", ")) (not \"\(key)\")")
        }
        guard let pattern = table["pattern"]?.string, !pattern.isEmpty, pattern.utf8.count <= 200,
            pattern.allSatisfy({ $0 == "*" || ChannelName.isValid(String($0)) })
        else {
            throw SettingError(expected: "pattern = \"<channel name, * for any characters>\", e.g. \"chat:*\"")
        }
        var rule = HistorySettings.Rule(pattern: pattern)
        if let raw = table["history_size"] {
            guard let size = raw.int, (0...100_000).contains(size) else { throw SettingError(expected: "history_size from 0 to 100000") }
            rule.size = size
        }
        if let raw = table["history_ttl"] {
            let value: SettingValue =
                if let text = raw.string { .text(text) } else if let number = raw.int { .integer(number) } else { .number(raw.double ?? -1) }
            do throws(SettingError) {
                rule.ttl = try value.duration(allowZero: false, maxSeconds: 30 * 86_400)
            } catch {
                throw SettingError(expected: "history_ttl as " + error.expected)
            }
        }
        return rule
    }
}
