import Crypto

/// A Lua script run by its SHA-1 (`EVALSHA`), loaded on each connection.
public struct RedisScript: Sendable, Equatable {
    public let source: String
    /// Lower-case hex SHA-1 of `source`, as Redis names scripts.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
