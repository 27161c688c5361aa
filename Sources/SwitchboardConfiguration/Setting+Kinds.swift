import Foundation

/// The usual kinds of setting (a whole number, bytes, seconds, a rate, a flag, a path) and how
/// their values read in `--help`.
extension Setting {
    static func integer(
        _ key: String, _ help: String, range: ClosedRange<Int>, example: Int, _ path: any WritableKeyPath<SwitchboardSettings, Int> & Sendable
    ) -> Setting {
        Setting(
            key: key, valueName: "n", help: help, example: "\(example)", value: { "\($0[keyPath: path])" },
            apply: { configuration, value throws(SettingError) in
                configuration[keyPath: path] = try value.integer(in: range)
            })
    }

    static func bytes(
        _ key: String, _ help: String, range: ClosedRange<Int>, example: String, _ path: any WritableKeyPath<SwitchboardSettings, Int> & Sendable
    ) -> Setting {
        Setting(
            key: key, valueName: "bytes", help: help + "; accepts KiB and MiB", example: example, value: { byteText($0[keyPath: path]) },
            apply: { configuration, value throws(SettingError) in
                configuration[keyPath: path] = try value.byteCount(in: range)
            })
    }

    static func seconds(
        _ key: String, _ help: String, allowZero: Bool = false, example: String,
        _ path: any WritableKeyPath<SwitchboardSettings, Duration> & Sendable
    ) -> Setting {
        Setting(
            key: key, valueName: "seconds", help: help, example: example, value: { secondsText($0[keyPath: path]) },
            apply: { configuration, value throws(SettingError) in
                configuration[keyPath: path] = try value.duration(allowZero: allowZero)
            })
    }

    static func rate(_ key: String, _ help: String, example: String, _ path: any WritableKeyPath<SwitchboardSettings, Double> & Sendable)
        -> Setting
    {
        Setting(
            key: key, valueName: "per-second", help: help, example: example, value: { numberText($0[keyPath: path]) },
            apply: { configuration, value throws(SettingError) in
                configuration[keyPath: path] = try value.number(atLeast: 0)
            })
    }

    /// An optional text such as a name or a password (shown as `shown` while unset, and as
    /// `set` once set when `secret`).
    static func text(
        _ key: String, valueName: String, _ help: String, shown: String = "off", secret: Bool = false, example: String,
        _ path: any WritableKeyPath<SwitchboardSettings, String?> & Sendable
    ) -> Setting {
        Setting(
            key: key, valueName: valueName, help: help, shownDefault: shown, example: example,
            value: { configuration in configuration[keyPath: path].map { secret ? "set" : $0 } ?? shown },
            apply: { configuration, value throws(SettingError) in
                configuration[keyPath: path] = try value.text(nonEmpty: true)
            })
    }

    static func flag(_ key: String, _ help: String, _ path: any WritableKeyPath<SwitchboardSettings, Bool> & Sendable) -> Setting {
        Setting(
            key: key, valueName: "bool", help: help, isFlag: true, example: "true", value: { "\($0[keyPath: path])" },
            apply: { configuration, value throws(SettingError) in
                configuration[keyPath: path] = try value.boolean()
            })
    }

    static func path(_ key: String, _ help: String, example: String, _ path: any WritableKeyPath<SwitchboardSettings, String?> & Sendable)
        -> Setting
    {
        Setting(
            key: key, valueName: "path", help: help, example: example, value: { $0[keyPath: path] ?? "off" },
            apply: { configuration, value throws(SettingError) in
                let text = try value.text(nonEmpty: true)
                guard text.hasPrefix("/") else { throw SettingError(expected: "a path starting with /") }
                configuration[keyPath: path] = text
            })
    }

    /// `65536` as `64KiB`, `1048576` as `1MiB`.
    static func byteText(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)MiB" }
        if bytes >= 1024 && bytes % 1024 == 0 { return "\(bytes >> 10)KiB" }
        return "\(bytes)"
    }

    static func secondsText(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : numberText(Double(milliseconds) / 1000)
    }

    static func numberText(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? "\(Int(number))" : "\(number)"
    }
}
