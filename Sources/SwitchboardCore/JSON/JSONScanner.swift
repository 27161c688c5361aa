/// A validating JSON scanner that never builds a tree.
///
/// The hub needs only a handful of top-level fields from each request and must forward the
/// `data` value *byte for byte*, so it scans the text once, checks that it is well-formed JSON
/// (RFC 8259) and reports where each top-level value starts and ends. Nesting depth is bounded,
/// so a JSON bomb costs one linear pass and a clear error, never a deep recursion.
public struct JSONScanner {
    /// Why a text is not acceptable JSON.
    public struct SyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
        /// Byte offset of the problem.
        public let offset: Int
        /// What was wrong, for a human.
        public let reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// A half-open byte range `start..<end` in the scanned text.
    public struct Span: Equatable, Sendable {
        public var start: Int
        public var end: Int
        public var count: Int { end - start }
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
    }

    /// One top-level member of an object.
    public struct Member {
        /// The key's characters (between the quotes, escapes not decoded).
        public var key: Span
        /// Whether the key contains a backslash escape.
        public var keyHasEscapes: Bool
        /// The whole value, from its first to its last byte.
        public var value: Span
        /// The first byte of the value (`"`, `{`, `[`, `t`, `f`, `n`, `-` or a digit).
        public var valueLead: UInt8
    }

    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var index = 0

    /// Creates a scanner over `bytes`, refusing nesting deeper than `maxDepth`.
    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// Scans a whole text that must be one JSON object and calls `member` for each top-level
    /// member in order. Throws on any syntax error, including trailing bytes.
    public mutating func scanObject(_ member: (Member) throws -> Void) throws {
        try scanWhole(open: "{", close: "}", name: "object") { scanner in
            guard scanner.peek() == UInt8(ascii: "\"") else { throw scanner.fail("expected a string key") }
            let (key, escaped) = try scanner.scanString()
            scanner.skipWhitespace()
            guard scanner.peek() == UInt8(ascii: ":") else { throw scanner.fail("expected ':'") }
            scanner.index += 1
            scanner.skipWhitespace()
            let (value, lead) = try scanner.scanItem()
            try member(Member(key: key, keyHasEscapes: escaped, value: value, valueLead: lead))
        }
    }

    /// Scans a whole text that must be one JSON array and calls `element` with each element's
    /// span and first byte, in order. Throws on any syntax error, including trailing bytes.
    public mutating func scanArray(_ element: (Span, UInt8) throws -> Void) throws {
        try scanWhole(open: "[", close: "]", name: "array") { scanner in
            let (value, lead) = try scanner.scanItem()
            try element(value, lead)
        }
    }

    /// A whole text that is one object or array: `open`, items separated by commas, each read
    /// by `item`, `close`, and nothing after it.
    private mutating func scanWhole(open: Unicode.Scalar, close: Unicode.Scalar, name: String, item: (inout JSONScanner) throws -> Void) throws {
        skipWhitespace()
        guard peek() == UInt8(ascii: open) else {
            throw fail(index >= bytes.count ? "empty message" : "expected a JSON \(name)")
        }
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: close) {
            index += 1
        } else {
            while true {
                skipWhitespace()
                try item(&self)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard peek() == UInt8(ascii: close) else { throw fail("expected ',' or '\(close)'") }
                index += 1
                break
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected bytes after the \(name)") }
    }

    /// One member's value or element, nested one level down: its span and first byte.
    private mutating func scanItem() throws -> (Span, UInt8) {
        let start = index
        guard start < bytes.count else { throw fail("unexpected end of input") }
        let lead = bytes[start]
        try scanValue(depth: 1)
        return (Span(start: start, end: index), lead)
    }

    /// Validates a whole text as exactly one JSON value of any kind.
    public mutating func scanDocument() throws -> Span {
        skipWhitespace()
        let start = index
        guard start < bytes.count else { throw fail("empty document") }
        try scanValue(depth: 0)
        let span = Span(start: start, end: index)
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected bytes after the value") }
        return span
    }

    // MARK: - Values

    private mutating func scanValue(depth: Int) throws {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "\""): _ = try scanString()
        case UInt8(ascii: "{"): try scanNestedObject(depth: depth + 1)
        case UInt8(ascii: "["): try scanArray(depth: depth + 1)
        case UInt8(ascii: "t"): try scanLiteral("true")
        case UInt8(ascii: "f"): try scanLiteral("false")
        case UInt8(ascii: "n"): try scanLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
        default: throw fail("unexpected character")
        }
    }

    private mutating func scanNestedObject(depth: Int) throws {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            _ = try scanString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            try scanValue(depth: depth)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func scanArray(depth: Int) throws {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try scanValue(depth: depth)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    /// Scans a string starting at its opening quote; returns the span between the quotes.
    private mutating func scanString() throws -> (Span, Bool) {
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let span = Span(start: start, end: index)
                index += 1
                return (span, escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                index += 1
                guard index < bytes.count else { throw fail("unterminated string") }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count else { throw fail("truncated \\u escape") }
                    for k in 1...4 where Self.hexValue(bytes[index + k]) == nil {
                        throw fail("bad \\u escape")
                    }
                    index += 5
                default:
                    throw fail("bad escape")
                }
            case 0..<0x20:
                throw fail("control character in string")
            default:
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func scanNumber() throws {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), Self.isDigit(first) else { throw fail("bad number") }
        index += 1
        if first != UInt8(ascii: "0") {
            while let d = peek(), Self.isDigit(d) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let d = peek(), Self.isDigit(d) else { throw fail("bad number") }
            while let d = peek(), Self.isDigit(d) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let d = peek(), Self.isDigit(d) else { throw fail("bad number") }
            while let d = peek(), Self.isDigit(d) { index += 1 }
        }
    }

    private mutating func scanLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw fail("unexpected character") }
        index += count
    }

    // MARK: - Helpers

    @inline(__always) private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    @inline(__always) private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private func fail(_ reason: String) -> SyntaxError {
        SyntaxError(offset: index, reason: reason)
    }

    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Decodes the characters of an already validated JSON string (between its quotes) into a
    /// Swift string, resolving escapes and surrogate pairs. Returns nil for a lone surrogate.
    public static func decodeString(_ bytes: UnsafeRawBufferPointer, _ span: Span, hasEscapes: Bool) -> String? {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.end])
        guard hasEscapes else { return String(decoding: slice, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var i = 0
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        func hex4(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 << 4 | (hexValue(slice[at + $1]) ?? 0) }
        }
        while i < slice.count {
            let byte = slice[i]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                i += 1
                continue
            }
            let kind = slice[i + 1]
            i += 2
            switch kind {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(code) {
                    guard i + 6 <= slice.count, slice[i] == UInt8(ascii: "\\"), slice[i + 1] == UInt8(ascii: "u") else {
                        return nil
                    }
                    let low = hex4(i + 2)
                    guard (0xDC00..<0xE000).contains(low) else { return nil }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                } else if (0xDC00..<0xE000).contains(code) {
                    return nil
                }
                flush()
                guard let scalar = Unicode.Scalar(code) else { return nil }
                scalars.append(scalar)
            default: utf8.append(kind)  // \" \\ \/
            }
        }
        flush()
        return String(scalars)
    }
}
