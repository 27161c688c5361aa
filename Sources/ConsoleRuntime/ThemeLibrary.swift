public import ConsoleModel
import Foundation

/// Finds themes: `~/.config/switchboard/themes/NAME.theme`, then the `themes/` folder next to the
/// binary's package, then the built-in default.
public struct ThemeLibrary: Sendable {
    public let directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    public static func standard() -> ThemeLibrary {
        var directories: [String] = []
        let environment = ProcessInfo.processInfo.environment
        if let config = environment["XDG_CONFIG_HOME"] { directories.append("\(config)/switchboard/themes") }
        if let home = environment["HOME"] { directories.append("\(home)/.config/switchboard/themes") }
        directories.append(FileManager.default.currentDirectoryPath + "/themes")
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            directories.append(folder.appendingPathComponent("themes").path)
            folder = folder.deletingLastPathComponent()
        }
        return ThemeLibrary(directories: directories)
    }

    /// No theme file has the name.
    public struct Missing: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "no theme named \(name) (looked for \(name).theme in ~/.config/switchboard/themes and themes/)" }
    }

    /// A theme file that does not parse, with its path and line.
    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let error: ThemeError
        public var description: String { "\(path):\(error.line): \(error.message)" }
    }

    /// Loads a theme by name or path; a bad file is an error naming the file and line.
    public func load(_ name: String) throws -> Theme {
        if name == "default" && !directories.contains(where: { FileManager.default.fileExists(atPath: "\($0)/default.theme") }) {
            return Theme.builtIn
        }
        let candidates = name.contains("/") ? [name] : directories.map { "\($0)/\(name).theme" }
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            do {
                return try Theme(parsing: text, name: name)
            } catch {
                throw FileError(path: path, error: error)
            }
        }
        throw Missing(name: name)
    }
}
