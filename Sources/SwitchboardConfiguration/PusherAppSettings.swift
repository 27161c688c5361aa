import Foundation
import SwitchboardCore
import TOMLKit

/// Pusher apps from the config file's `[[apps]]` tables and from `--pusher-app id:key:secret`.
enum PusherAppSettings {
    /// The keys an `[[apps]]` table may hold, with their help for error messages.
    static let keys = [
        "id", "key", "secret", "max_connections", "client_events", "client_event_rate", "max_presence_members", "max_event_size", "webhooks",
    ]

    /// Reads `id:key:secret[,id:key:secret…]`.
    static func parseList(_ text: String) throws(SettingError) -> [PusherApp] {
        try text.split(separator: ",").map { entry throws(SettingError) in
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { throw SettingError(expected: "id:key:secret, several separated by commas") }
            return try validated(PusherApp(id: parts[0], key: parts[1], secret: parts[2]))
        }
    }

    /// Reads the config file's `apps` value: an array of `[[apps]]` tables.
    static func apps(from value: any TOMLValueConvertible) throws(SettingError) -> [PusherApp] {
        guard let list = value.array else { throw SettingError(expected: "[[apps]] tables with id, key and secret") }
        var apps: [PusherApp] = []
        for (index, element) in list.enumerated() {
            guard let table = element.table else { throw SettingError(expected: "[[apps]] tables with id, key and secret") }
            do throws(SettingError) {
                apps.append(try parse(table))
            } catch {
                throw SettingError(expected: error.expected, table: index)
            }
        }
        return apps
    }

    /// Reads one `[[apps]]` table.
    static func parse(_ table: TOMLTable) throws(SettingError) -> PusherApp {
        for key in table.keys where !keys.contains(key) {
            throw SettingError(expected: "only the keys \(keys.joined(separator: ", ")) (not \"\(key)\")")
        }
        func text(_ key: String) throws(SettingError) -> String {
            guard let value = table[key]?.string ?? table[key]?.int.map(String.init) else {
                throw SettingError(expected: "\"\(key)\" (a string) in every [[apps]] table")
            }
            return value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(SettingError) -> Int? {
            guard let raw = table[key] else { return nil }
            guard let value = raw.int, range.contains(value) else {
                throw SettingError(expected: "\(key) from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        var app = PusherApp(id: try text("id"), key: try text("key"), secret: try text("secret"))
        if let value = try integer("max_connections", 0...10_000_000) { app.maxConnections = value }
        if let value = try integer("max_presence_members", 1...100_000) { app.maxPresenceMembers = value }
        if let value = try integer("max_event_size", 1...(1 << 20)) { app.maxEventBytes = value }
        if let raw = table["client_events"] {
            guard let value = raw.bool else { throw SettingError(expected: "client_events = true or false") }
            app.clientEvents = value
        }
        if let raw = table["client_event_rate"] {
            guard let value = raw.double ?? raw.int.map(Double.init), value > 0 else { throw SettingError(expected: "client_event_rate > 0") }
            app.clientEventRate = value
        }
        if let raw = table["webhooks"] {
            guard let list = raw.array?.compactMap(\.string), list.count == raw.array?.count,
                list.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") })
            else {
                throw SettingError(expected: "webhooks = [\"http://…\", …]")
            }
            app.webhooks = list
        }
        return try validated(app)
    }

    private static func validated(_ app: PusherApp) throws(SettingError) -> PusherApp {
        guard PusherApp.isValidIdentifier(app.id), PusherApp.isValidIdentifier(app.key) else {
            throw SettingError(expected: "an app id and key of 1-64 characters A-Z a-z 0-9 _ -")
        }
        guard app.secret.utf8.count >= 16 else { throw SettingError(expected: "an app secret of at least 16 characters") }
        return app
    }

    /// Adds `apps`, refusing an id or key that is already taken.
    static func add(_ apps: [PusherApp], to existing: inout [PusherApp]) throws(SettingError) {
        for app in apps {
            if existing.contains(where: { $0.id == app.id || $0.key == app.key }) {
                throw SettingError(expected: "apps with distinct ids and keys (\(app.id) / \(app.key) is given twice)")
            }
            existing.append(app)
        }
    }
}
