public import NIOCore

/// Reads RESP values from the bytes a Redis connection delivers, one complete value at a time.
///
/// A value type: ``next(from:)`` either consumes one whole value from the front of the buffer
/// and returns it, or consumes nothing and returns nil while the value's bytes have not all
/// arrived (call again when more have). Every size is bounded (``Limits``): a length beyond them,
/// a nesting deeper than allowed or bytes that are not RESP are an error, after which the
/// connection's framing is lost and it must be closed.
public struct RESPDecoder: Sendable {
    /// Bounds on what one value may hold.
    public struct Limits: Sendable, Equatable {
        /// Largest bulk string (Redis's own limit is 512 MB; a hub's messages are far smaller).
        public var bulkBytes: Int
        /// Most elements in one array.
        public var arrayCount: Int
        /// Deepest nesting of arrays.
        public var depth: Int
        /// Longest simple string, error or length line.
        public var lineBytes: Int

        public init(bulkBytes: Int = 64 << 20, arrayCount: Int = 1 << 20, depth: Int = 16, lineBytes: Int = 64 << 10) {
            self.bulkBytes = bulkBytes
            self.arrayCount = arrayCount
            self.depth = depth
            self.lineBytes = lineBytes
        }
    }

    /// Why the bytes are not RESP, or not within the limits.
    public enum Failure: Error, Equatable, Sendable {
        /// The first byte of a value is not a RESP type.
        case unknownType(UInt8)
        /// A length or an integer that is not a number, a missing CRLF, a negative length.
        case malformed(String)
        /// A length beyond ``Limits``.
        case tooLarge(String)
        /// Arrays nested deeper than ``Limits/depth``.
        case tooDeep
    }

    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The next complete value at the front of `buffer`, consuming exactly its bytes; nil (and
    /// nothing consumed) while it is incomplete.
    public func next(from buffer: inout ByteBuffer) throws(Failure) -> RESPValue? {
        var cursor = buffer.readerIndex
        guard let value = try parse(buffer, at: &cursor, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: cursor)
        return value
    }

    private func parse(_ buffer: ByteBuffer, at cursor: inout Int, depth: Int) throws(Failure) -> RESPValue? {
        guard let type = buffer.getInteger(at: cursor, as: UInt8.self) else { return nil }
        var position = cursor + 1
        guard let line = try line(buffer, at: &position) else { return nil }
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"):
            value = .simpleString(line)
        case UInt8(ascii: "-"):
            value = .error(line)
        case UInt8(ascii: ":"):
            value = .integer(try Self.integer(line))
        case UInt8(ascii: "$"):
            let length = try Self.integer(line)
            if length == -1 {
                value = .bulkString(nil)
                break
            }
            guard length >= 0 else { throw .malformed("bulk string length \(length)") }
            guard length <= limits.bulkBytes else { throw .tooLarge("bulk string of \(length) bytes (limit \(limits.bulkBytes))") }
            let size = Int(length)
            guard buffer.writerIndex - position >= size + 2 else { return nil }
            guard buffer.getInteger(at: position + size, as: UInt16.self) == 0x0D0A else {
                throw .malformed("bulk string not followed by CRLF")
            }
            value = .bulkString(buffer.getSlice(at: position, length: size))
            position += size + 2
        case UInt8(ascii: "*"), UInt8(ascii: ">"):
            let count = try Self.integer(line)
            if count == -1 && type == UInt8(ascii: "*") {
                value = .array(nil)
                break
            }
            guard count >= 0 else { throw .malformed("array length \(count)") }
            guard count <= limits.arrayCount else { throw .tooLarge("array of \(count) elements (limit \(limits.arrayCount))") }
            guard depth < limits.depth else { throw .tooDeep }
            var elements: [RESPValue] = []
            // Never reserve more than what the bytes at hand could hold: a length is a claim.
            elements.reserveCapacity(min(Int(count), (buffer.writerIndex - position) / 3))
            for _ in 0..<count {
                guard let element = try parse(buffer, at: &position, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            value = type == UInt8(ascii: "*") ? .array(elements) : .push(elements)
        default:
            throw .unknownType(type)
        }
        cursor = position
        return value
    }

    /// The bytes up to the next CRLF (consumed with it), or nil while it has not arrived.
    private func line(_ buffer: ByteBuffer, at position: inout Int) throws(Failure) -> ByteBuffer? {
        let available = buffer.writerIndex - position
        let view = buffer.viewBytes(at: position, length: min(available, limits.lineBytes + 2)) ?? ByteBufferView()
        guard let carriageReturn = view.firstIndex(of: 0x0D) else {
            if available >= limits.lineBytes + 2 { throw .tooLarge("line longer than \(limits.lineBytes) bytes") }
            return nil
        }
        let length = carriageReturn - view.startIndex
        guard length + 1 < available else { return nil }
        guard buffer.getInteger(at: position + length + 1, as: UInt8.self) == 0x0A else { throw .malformed("CR not followed by LF") }
        let line = buffer.getSlice(at: position, length: length)!
        position += length + 2
        return line
    }

    private static func integer(_ line: ByteBuffer) throws(Failure) -> Int64 {
        let text = line.readableBytesView
        guard !text.isEmpty, text.count <= 20 else { throw .malformed("not an integer") }
        var value: Int64 = 0
        var negative = false
        for (offset, byte) in text.enumerated() {
            if offset == 0 && byte == UInt8(ascii: "-") && text.count > 1 {
                negative = true
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { throw .malformed("not an integer") }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow && !overflow2 else { throw .malformed("integer out of range") }
            value = sum
        }
        return negative ? -value : value
    }
}
