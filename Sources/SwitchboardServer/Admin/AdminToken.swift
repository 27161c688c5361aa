import Foundation

/// The bearer token that guards every admin route. Given by the operator, or generated at start
/// and written (mode 0600) to a state file where the CLI and `attach` find it.
public struct AdminToken: Sendable {
    public let value: String
    /// Where a generated token was written, if it was.
    public let stateFile: String?

    public init(value: String, stateFile: String? = nil) {
        self.value = value
        self.stateFile = stateFile
    }

    /// Uses `given` if there is one; otherwise generates a token and writes it to the state file
    /// for `port`.
    public static func resolve(given: String?, port: Int) throws -> AdminToken {
        if let given, !given.isEmpty { return AdminToken(value: given) }
        var generator = SystemRandomNumberGenerator()
        let value = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let path = stateFilePath(port: port)
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data((value + "\n").utf8))
        try handle.close()
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        return AdminToken(value: value, stateFile: path)
    }

    /// `$XDG_RUNTIME_DIR/switchboard/<port>.token`, else `~/.local/state/switchboard/<port>.token`.
    public static func stateFilePath(port: Int) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return "\(runtime)/switchboard/\(port).token"
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return "\(home)/.local/state/switchboard/\(port).token"
    }

    /// Reads a token written by a server on `port`, if there is one.
    public static func fromStateFile(port: Int) -> String? {
        (try? String(contentsOfFile: stateFilePath(port: port), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Compares in constant time (for equal lengths), so timing reveals nothing of the token.
    public func matches(_ candidate: some StringProtocol) -> Bool {
        let expected = Array(value.utf8)
        let given = Array(candidate.utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for index in 0..<expected.count {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
