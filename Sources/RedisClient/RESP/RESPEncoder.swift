public import NIOCore

/// Writes RESP: commands as arrays of bulk strings (what a client sends), and any value (for
/// tests and tools).
public enum RESPEncoder {
    /// Appends the command `parts` (`SET`, key, value…) to `buffer`, pipelined after whatever
    /// is already there.
    public static func command(_ parts: [ByteBuffer], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*")
        buffer.writeString(String(parts.count))
        buffer.writeStaticString("\r\n")
        for var part in parts {
            writeBulk(&part, into: &buffer)
        }
    }

    /// Appends a command given as text parts.
    public static func command(_ parts: [String], into buffer: inout ByteBuffer) {
        command(parts.map { ByteBuffer(string: $0) }, into: &buffer)
    }

    /// Appends `value`.
    public static func write(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(var bytes):
            buffer.writeStaticString("+")
            buffer.writeBuffer(&bytes)
            buffer.writeStaticString("\r\n")
        case .error(var bytes):
            buffer.writeStaticString("-")
            buffer.writeBuffer(&bytes)
            buffer.writeStaticString("\r\n")
        case .integer(let number):
            buffer.writeStaticString(":")
            buffer.writeString(String(number))
            buffer.writeStaticString("\r\n")
        case .bulkString(nil):
            buffer.writeStaticString("$-1\r\n")
        case .bulkString(var bytes?):
            writeBulk(&bytes, into: &buffer)
        case .array(nil):
            buffer.writeStaticString("*-1\r\n")
        case .array(let elements?):
            writeAggregate("*", elements, into: &buffer)
        case .push(let elements):
            writeAggregate(">", elements, into: &buffer)
        }
    }

    private static func writeAggregate(_ type: StaticString, _ elements: [RESPValue], into buffer: inout ByteBuffer) {
        buffer.writeStaticString(type)
        buffer.writeString(String(elements.count))
        buffer.writeStaticString("\r\n")
        for element in elements { write(element, into: &buffer) }
    }

    private static func writeBulk(_ bytes: inout ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("$")
        buffer.writeString(String(bytes.readableBytes))
        buffer.writeStaticString("\r\n")
        buffer.writeBuffer(&bytes)
        buffer.writeStaticString("\r\n")
    }
}
