public import Foundation
public import Logging

/// How log lines are written to stderr.
public enum LogFormat: String, Sendable {
    case text
    case json
}

/// One JSON object per line on stderr: `{"ts":…,"level":…,"msg":…,<metadata>}`.
struct JSONLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let label: String

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Date.now.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))),
            ("level", event.level.rawValue),
            ("msg", "\(event.message)"),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        var line = "{"
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line += "," }
            line += Self.quoted(key) + ":" + Self.quoted(value)
        }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension LogFormat {
    /// Makes the process-wide logger for this format and level.
    public func makeLogger(level: Logger.Level) -> Logger {
        let format = self
        var logger = Logger(label: "switchboard") { label in
            switch format {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLogHandler(label: label)
            }
        }
        logger.logLevel = level
        return logger
    }
}

/// Writes log lines to a file (appending), for console mode where stderr is the screen.
struct FileLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let label: String
    let handle: FileHandle
    let format: LogFormat

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let line: String
        switch format {
        case .json:
            var fields = [("ts", Date.now.formatted(.iso8601)), ("level", event.level.rawValue), ("msg", "\(event.message)")]
            for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
            line = "{" + fields.map { JSONLogHandler.quoted($0.0) + ":" + JSONLogHandler.quoted($0.1) }.joined(separator: ",") + "}\n"
        case .text:
            let details = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
            line = "\(Date.now.formatted(.iso8601)) \(event.level.rawValue) \(label): \(details) \(event.message)\n"
        }
        handle.write(Data(line.utf8))
    }
}

extension LogFormat {
    /// A logger for console mode: to `path` if given, else nowhere (events are on screen).
    public static func fileLogger(path: String?, format: LogFormat, level: Logger.Level) throws -> Logger {
        guard let path else {
            return Logger(label: "switchboard") { _ in SwiftLogNoOpLogHandler() }
        }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ConfigurationError(description: "--log-file: cannot open \(path) for writing")
        }
        handle.seekToEndOfFile()
        var logger = Logger(label: "switchboard") { label in FileLogHandler(label: label, handle: handle, format: format) }
        logger.logLevel = level
        return logger
    }
}
