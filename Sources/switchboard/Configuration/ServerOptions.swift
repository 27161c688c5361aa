import ArgumentParser
import SwitchboardConfiguration

/// The server settings on the command line: `--config` and every ``Setting`` of
/// ``Setting/all`` as `--key value`, `--key=value` or, for a flag, `--key`. The flags come from
/// the table rather than from one declaration each, so a setting is written once; `serve
/// --help` lists them from the same table (``settingsHelp``).
struct ServerOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "TOML config file; flags beat environment beat file. Env: SWITCHBOARD_CONFIG.")
    var config: String?

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Server settings (listed above).", visibility: .hidden))
    var settingArguments: [String] = []

    /// The settings given as flags, by key.
    var given: [String: String] {
        (try? Self.parse(settingArguments)) ?? [:]
    }

    func validate() throws {
        _ = try Self.parse(settingArguments)
    }

    /// Reads `--key value`, `--key=value` and `--flag` pairs of known settings.
    static func parse(_ arguments: [String]) throws(ValidationError) -> [String: String] {
        var given: [String: String] = [:]
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("--") else {
                throw ValidationError("unexpected argument '\(argument)'; settings are given as --name value (see --help)")
            }
            let spelled = argument.dropFirst(2)
            let (name, inline) =
                if let equals = spelled.firstIndex(of: "=") {
                    (String(spelled[..<equals]), Optional(String(spelled[spelled.index(after: equals)...])))
                } else {
                    (String(spelled), String?.none)
                }
            guard let setting = Setting.named(name) else {
                throw ValidationError("unknown option '--\(name)'; `switchboard serve --help` lists every setting")
            }
            let value: String
            if let inline {
                value = inline
            } else if setting.isFlag {
                value = "true"
            } else if let next = rest.popFirst() {
                value = next
            } else {
                throw ValidationError("--\(name) needs a value: --\(name) <\(setting.valueName)>")
            }
            // A list's flags add up (joined as its environment variable is); others: the last wins.
            given[name] = setting.isRepeatable ? given[name].map { $0 + "," + value } ?? value : value
        }
        return given
    }

    /// The settings section of `serve --help`, from the table: each flag, its help, its default
    /// and its environment variable, wrapped to 80 columns.
    static var settingsHelp: String {
        var lines = ["", "SETTINGS (each also an environment variable and a key of the --config file):"]
        for setting in Setting.all where setting.key != "fault-injection" {
            lines.append("  --\(setting.key)" + (setting.isFlag ? "" : " <\(setting.valueName)>"))
            lines += wrap(setting.fullHelp, width: 78, indent: "        ")
        }
        return lines.joined(separator: "\n")
    }

    private static func wrap(_ text: String, width: Int, indent: String) -> [String] {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count && line.count + 1 + word.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        if line.count > indent.count { lines.append(line) }
        return lines
    }
}
