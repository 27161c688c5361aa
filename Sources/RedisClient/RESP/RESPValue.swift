public import NIOCore

/// One value of the Redis serialization protocol (RESP2, plus RESP3's push frames, which a
/// subscriber connection receives after `HELLO 3`).
///
/// Strings stay bytes (`ByteBuffer` slices of what was read): Redis strings are binary, and a
/// published message is handed on without being copied or decoded.
public enum RESPValue: Sendable, Equatable {
    /// `+OK\r\n`
    case simpleString(ByteBuffer)
    /// `-ERR unknown command\r\n`: the server refused the command.
    case error(ByteBuffer)
    /// `:42\r\n`
    case integer(Int64)
    /// `$5\r\nhello\r\n`; nil is the null bulk string `$-1\r\n`.
    case bulkString(ByteBuffer?)
    /// `*2\r\n…`; nil is the null array `*-1\r\n`.
    case array([RESPValue]?)
    /// RESP3 `>3\r\n…`: an out-of-band message (pub/sub) on a RESP3 connection.
    case push([RESPValue])

    /// The value as text, for simple strings, errors and bulk strings.
    public var string: String? {
        switch self {
        case .simpleString(let bytes), .error(let bytes), .bulkString(let bytes?): String(buffer: bytes)
        default: nil
        }
    }

    /// The integer, for integers (and bulk strings that hold one, as some replies do).
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let bytes?): Int64(String(buffer: bytes))
        default: nil
        }
    }

    /// The elements, for arrays and push frames.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let elements): elements
        case .push(let elements): elements
        default: nil
        }
    }

    /// A bulk string of `text`'s UTF-8 bytes.
    public static func bulk(_ text: String) -> RESPValue {
        .bulkString(ByteBuffer(string: text))
    }
}
