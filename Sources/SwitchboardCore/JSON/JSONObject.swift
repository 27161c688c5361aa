/// The top-level members of a JSON object, read once with ``JSONScanner``: strings, numbers and
/// booleans decoded on request, any value available as its exact bytes (to forward untouched).
public struct JSONObject: Sendable {
    public let bytes: [UInt8]
    private var members: [String: (span: JSONScanner.Span, lead: UInt8)] = [:]

    /// Parses `bytes`, which must be one JSON object.
    public init(parsing bytes: [UInt8], maxDepth: Int = 64) throws(JSONScanner.SyntaxError) {
        self.bytes = bytes
        var found: [String: (span: JSONScanner.Span, lead: UInt8)] = [:]
        let result: Result<Void, JSONScanner.SyntaxError> = bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw, maxDepth: maxDepth)
            do {
                try scanner.scanObject { member in
                    guard let key = JSONScanner.decodeString(raw, member.key, hasEscapes: member.keyHasEscapes) else { return }
                    found[key] = (member.value, member.valueLead)
                }
                return .success(())
            } catch let error as JSONScanner.SyntaxError {
                return .failure(error)
            } catch {
                return .failure(JSONScanner.SyntaxError(offset: 0, reason: "\(error)"))
            }
        }
        try result.get()
        members = found
    }

    public func has(_ key: String) -> Bool { members[key] != nil }

    /// The exact bytes of a member's value.
    public func raw(_ key: String) -> ArraySlice<UInt8>? {
        members[key].map { bytes[$0.span.start..<$0.span.end] }
    }

    /// A string member, decoded; nil if absent or not a string.
    public func string(_ key: String) -> String? {
        guard let member = members[key], member.lead == UInt8(ascii: "\"") else { return nil }
        let inner = JSONScanner.Span(start: member.span.start + 1, end: member.span.end - 1)
        return bytes.withUnsafeBytes { raw in
            JSONScanner.decodeString(raw, inner, hasEscapes: bytes[inner.start..<inner.end].contains(UInt8(ascii: "\\")))
        }
    }

    /// A boolean member; nil if absent or not a boolean.
    public func bool(_ key: String) -> Bool? {
        switch members[key]?.lead {
        case UInt8(ascii: "t"): true
        case UInt8(ascii: "f"): false
        default: nil
        }
    }

    /// A member that is an array of strings, decoded; nil if absent, not an array, or holding
    /// anything but strings.
    public func strings(_ key: String) -> [String]? {
        guard let member = members[key], member.lead == UInt8(ascii: "[") else { return nil }
        let array = Array(bytes[member.span.start..<member.span.end])
        return array.withUnsafeBytes { raw -> [String]? in
            var scanner = JSONScanner(raw)
            var strings: [String] = []
            do {
                try scanner.scanArray { span, lead in
                    let inner = JSONScanner.Span(start: span.start + 1, end: span.end - 1)
                    guard lead == UInt8(ascii: "\""),
                        let string = JSONScanner.decodeString(raw, inner, hasEscapes: array[inner.start..<inner.end].contains(UInt8(ascii: "\\")))
                    else { throw JSONScanner.SyntaxError(offset: span.start, reason: "expected a string") }
                    strings.append(string)
                }
            } catch {
                return nil
            }
            return strings
        }
    }

    /// An integer member; nil if absent or not an integer.
    public func int(_ key: String) -> Int? {
        raw(key).flatMap { Int(String(decoding: $0, as: UTF8.self)) }
    }
}
