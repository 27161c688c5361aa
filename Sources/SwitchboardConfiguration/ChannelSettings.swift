import SwitchboardCore
import TOMLKit

/// Per-channel-pattern history policies and proxy choices from the config file's `[[channels]]`
/// tables:
///
/// ```toml
/// [[channels]]
/// pattern = "chat:*"
/// history_size = 100
/// history_ttl = "10m"
/// proxy_subscribe = true
/// proxy_publish = true
/// ```
///
/// Keys are spelled like those of `[[apps]]` tables; the first table whose pattern matches a
/// channel decides, and a history key a table leaves out is the global setting's
/// (`history-size`, `history-ttl`; for the proxy keys see ``ProxyChannelRules``).
enum ChannelSettings {
    static let keys = ["pattern", "history_size", "history_ttl", "proxy_subscribe", "proxy_publish"]

    /// Reads the config file's `channels` value: an array of `[[channels]]` tables. An error
    /// names the table (0-based) it was found in.
    static func rules(from value: any TOMLValueConvertible) throws(SettingError) -> (
        history: [HistorySettings.Rule], proxy: [ProxyChannelRules.Rule]
    ) {
        guard let list = value.array else { throw SettingError(expected: "[[channels]] tables with a pattern") }
        var rules: (history: [HistorySettings.Rule], proxy: [ProxyChannelRules.Rule]) = ([], [])
        for (index, element) in list.enumerated() {
            do throws(SettingError) {
                guard let table = element.table else { throw SettingError(expected: "[[channels]] tables with a pattern") }
                let (history, proxy) = try rule(from: table)
                rules.history.append(history)
                rules.proxy.append(proxy)
            } catch {
                throw SettingError(expected: error.expected, table: index)
            }
        }
        return rules
    }

    /// Reads one `[[channels]]` table.
    static func rule(from table: TOMLTable) throws(SettingError) -> (HistorySettings.Rule, ProxyChannelRules.Rule) {
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
        var proxy = ProxyChannelRules.Rule(pattern: pattern)
        for (key, path) in [("proxy_subscribe", \ProxyChannelRules.Rule.subscribe), ("proxy_publish", \.publish)] {
            guard let raw = table[key] else { continue }
            guard let value = raw.bool else { throw SettingError(expected: "\(key) = true or false") }
            proxy[keyPath: path] = value
        }
        return (rule, proxy)
    }
}
