import NIOCore
import Testing

@testable import SwitchboardCore

// Shared helpers for the core tests: running the scanner and the request decoder over strings,
// reading spans back as text, and parsing WebSocket frames independently of `WireFrame`.

/// Scans `bytes` as one JSON document of any kind.
func scanDocument(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSONScanner.Span {
    try bytes.withUnsafeBytes { raw in
        var scanner = JSONScanner(raw, maxDepth: maxDepth)
        return try scanner.scanDocument()
    }
}

/// Scans `text` as one JSON document of any kind.
func scanDocument(_ text: String, maxDepth: Int = 64) throws -> JSONScanner.Span {
    try scanDocument(Array(text.utf8), maxDepth: maxDepth)
}

/// One member reported by `JSONScanner.scanObject`, with its spans read back as text.
struct ScannedMember: Equatable, CustomStringConvertible {
    var key: String
    var keyHasEscapes: Bool
    var value: String
    var valueLead: Character

    var description: String { "\(key)\(keyHasEscapes ? "(esc)" : "") = \(value) [\(valueLead)]" }
}

/// Scans `text` as a request-style object and returns its top-level members in order.
func scanObjectMembers(_ text: String, maxDepth: Int = 64) throws -> [ScannedMember] {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes { raw in
        var scanner = JSONScanner(raw, maxDepth: maxDepth)
        var members: [ScannedMember] = []
        try scanner.scanObject { member in
            members.append(
                ScannedMember(
                    key: bytes.text(member.key),
                    keyHasEscapes: member.keyHasEscapes,
                    value: bytes.text(member.value),
                    valueLead: Character(Unicode.Scalar(member.valueLead))
                )
            )
        }
        return members
    }
}

/// Decodes the JSON string literal `literal` (with its quotes) through the scanner and
/// `JSONScanner.decodeString`, the way the request decoder does.
func decodeJSONString(_ literal: String) throws -> String? {
    let bytes = Array(literal.utf8)
    let span = try scanDocument(bytes)
    guard bytes[span.start] == UInt8(ascii: "\"") else { throw HelperError("\(literal) is not a JSON string") }
    let inner = JSONScanner.Span(start: span.start + 1, end: span.end - 1)
    return bytes.withUnsafeBytes { raw in
        JSONScanner.decodeString(raw, inner, hasEscapes: bytes[inner.start..<inner.end].contains(UInt8(ascii: "\\")))
    }
}

extension Array where Element == UInt8 {
    /// The bytes of `span`, as text.
    func text(_ span: JSONScanner.Span) -> String {
        String(decoding: self[span.start..<span.end], as: UTF8.self)
    }
}

struct HelperError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The outcome of `ClientRequest.decode` on a text, with the text kept so spans can be read.
struct DecodedRequest {
    let bytes: [UInt8]
    let result: Result<ClientRequest, ProtocolError>

    init(_ text: String, maxDepth: Int = 64) {
        bytes = Array(text.utf8)
        result = bytes.withUnsafeBytes { ClientRequest.decode($0, maxDepth: maxDepth) }
    }

    var request: ClientRequest? {
        if case .success(let request) = result { return request }
        return nil
    }

    var error: ProtocolError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    /// The text of a span into the request's bytes.
    func text(_ span: JSONScanner.Span?) -> String? {
        span.map { bytes.text($0) }
    }

    /// The request's `data` value as text, when it is a publish.
    var publishedData: String? {
        guard case .publish(_, let data)? = request?.kind else { return nil }
        return bytes.text(data)
    }
}

/// One WebSocket frame, parsed independently of `WireFrame` (RFC 6455 §5.2).
struct ParsedFrame {
    var fin: Bool
    var reservedBits: UInt8
    var opcode: UInt8
    /// The 7-bit length field of the second byte (126 and 127 announce extended lengths).
    var lengthField: UInt8
    var maskKey: [UInt8]?
    var headerLength: Int
    /// The payload, already unmasked.
    var payload: [UInt8]

    var text: String { String(decoding: payload, as: UTF8.self) }
}

/// Parses exactly one frame that must span all of `bytes`.
func parseFrame(_ bytes: [UInt8]) throws -> ParsedFrame {
    guard bytes.count >= 2 else { throw HelperError("frame shorter than 2 bytes") }
    let first = bytes[0]
    let second = bytes[1]
    var index = 2
    var length = Int(second & 0x7F)
    if length == 126 {
        guard bytes.count >= 4 else { throw HelperError("truncated 16-bit length") }
        length = Int(bytes[2]) << 8 | Int(bytes[3])
        index = 4
    } else if length == 127 {
        guard bytes.count >= 10 else { throw HelperError("truncated 64-bit length") }
        var wide: UInt64 = 0
        for k in 2..<10 { wide = wide << 8 | UInt64(bytes[k]) }
        length = Int(wide)
        index = 10
    }
    var maskKey: [UInt8]?
    if second & 0x80 != 0 {
        guard bytes.count >= index + 4 else { throw HelperError("truncated mask key") }
        maskKey = Array(bytes[index..<index + 4])
        index += 4
    }
    guard bytes.count == index + length else {
        throw HelperError("frame announces \(index + length) bytes but has \(bytes.count)")
    }
    var payload = Array(bytes[index...])
    if let maskKey {
        for i in payload.indices { payload[i] ^= maskKey[i % 4] }
    }
    return ParsedFrame(
        fin: first & 0x80 != 0,
        reservedBits: first & 0x70,
        opcode: first & 0x0F,
        lengthField: second & 0x7F,
        maskKey: maskKey,
        headerLength: index,
        payload: payload
    )
}

/// Parses the readable bytes of `buffer` as exactly one frame.
func parseFrame(_ buffer: ByteBuffer) throws -> ParsedFrame {
    try parseFrame(Array(buffer.readableBytesView))
}

/// A small deterministic generator (SplitMix64), so "random" inputs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
