import Testing

@testable import SwitchboardCore

@Suite("JSONScanner: whole documents")
struct JSONScannerDocumentTests {
    /// (document, the value the returned span must cover)
    static let validDocuments: [(String, String)] = [
        ("null", "null"),
        ("true", "true"),
        ("false", "false"),
        ("0", "0"),
        ("-0", "-0"),
        ("7", "7"),
        ("1234567890", "1234567890"),
        ("-12", "-12"),
        ("0.5", "0.5"),
        ("-0.5e+3", "-0.5e+3"),
        ("1E5", "1E5"),
        ("1e-5", "1e-5"),
        ("2.50E+05", "2.50E+05"),
        ("1e007", "1e007"),  // leading zeros are allowed in the exponent
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        (#""""#, #""""#),
        (#""hello""#, #""hello""#),
        (#""\"\\\/\b\f\n\r\t""#, #""\"\\\/\b\f\n\r\t""#),
        (#""\u00e9\u00E9\uD83D\uDE00""#, #""\u00e9\u00E9\uD83D\uDE00""#),
        (#""\ud800""#, #""\ud800""#),  // lone surrogates are syntactically fine; decodeString rejects them
        ("\"é日本😀\"", "\"é日本😀\""),
        ("\"\u{7F}\"", "\"\u{7F}\""),  // DEL is not a control character for JSON
        ("[]", "[]"),
        ("{}", "{}"),
        ("[ ]", "[ ]"),
        ("{ }", "{ }"),
        (#"[1,"a",null,true,false,{},[],-0.5]"#, #"[1,"a",null,true,false,{},[],-0.5]"#),
        (#"{"a":{"b":[1,{"c":null}]},"":0}"#, #"{"a":{"b":[1,{"c":null}]},"":0}"#),
        (#"{"a":1,"a":2}"#, #"{"a":1,"a":2}"#),  // duplicate keys are valid JSON
        (" \t\r\n[ 1 , 2 ]\n ", "[ 1 , 2 ]"),
        ("  \"x\"  ", "\"x\""),
        ("\n0\n", "0"),
    ]

    @Test("valid documents are accepted and the span covers exactly the value", arguments: validDocuments)
    func validDocument(document: String, value: String) throws {
        let bytes = Array(document.utf8)
        let span = try scanDocument(bytes)
        #expect(bytes.text(span) == value)
        #expect(span.count == value.utf8.count)
    }

    /// (document, reason, offset)
    static let invalidDocuments: [(String, String, Int)] = [
        ("", "empty document", 0),
        (" \n\t", "empty document", 3),
        // Numbers
        ("01", "unexpected bytes after the value", 1),
        ("-01", "unexpected bytes after the value", 2),
        ("00", "unexpected bytes after the value", 1),
        ("-", "bad number", 1),
        ("-a", "bad number", 1),
        ("- 1", "bad number", 1),
        ("1.", "bad number", 2),
        ("1.e5", "bad number", 2),
        ("1e", "bad number", 2),
        ("1E", "bad number", 2),
        ("1e+", "bad number", 3),
        ("1e-x", "bad number", 3),
        ("1e5.5", "unexpected bytes after the value", 3),
        (".5", "unexpected character", 0),
        ("+1", "unexpected character", 0),
        ("0x10", "unexpected bytes after the value", 1),
        ("NaN", "unexpected character", 0),
        ("Infinity", "unexpected character", 0),
        ("-Infinity", "bad number", 1),
        // Literals
        ("tru", "unexpected end of input", 0),
        ("nul", "unexpected end of input", 0),
        ("trUe", "unexpected character", 0),
        ("True", "unexpected character", 0),
        ("nulL", "unexpected character", 0),
        ("falsey", "unexpected bytes after the value", 5),
        ("undefined", "unexpected character", 0),
        // Trailing bytes
        ("1 2", "unexpected bytes after the value", 2),
        ("{} x", "unexpected bytes after the value", 3),
        ("[][]", "unexpected bytes after the value", 2),
        (#""a" "b""#, "unexpected bytes after the value", 4),
        ("null,", "unexpected bytes after the value", 4),
        ("0\u{0C}", "unexpected bytes after the value", 1),  // form feed is not JSON whitespace
        ("\u{0B}1", "unexpected character", 0),  // nor is vertical tab
        ("\u{FEFF}1", "unexpected character", 0),  // a byte order mark is refused
        // Arrays
        ("[", "unexpected end of input", 1),
        ("[1", "expected ',' or ']'", 2),
        ("[1,", "unexpected end of input", 3),
        ("[1,]", "unexpected character", 3),
        ("[,1]", "unexpected character", 1),
        ("[1 2]", "expected ',' or ']'", 3),
        ("[01]", "expected ',' or ']'", 2),
        ("[1}", "expected ',' or ']'", 2),
        ("]", "unexpected character", 0),
        // Objects
        ("{", "expected a string key", 1),
        ("{\"a\"}", "expected ':'", 4),
        ("{\"a\" 1}", "expected ':'", 5),
        ("{\"a\":}", "unexpected character", 5),
        ("{\"a\":", "unexpected end of input", 5),
        ("{\"a\":1,}", "expected a string key", 7),
        ("{\"a\":1 \"b\":2}", "expected ',' or '}'", 7),
        ("{\"a\":1]", "expected ',' or '}'", 6),
        ("{a:1}", "expected a string key", 1),
        ("{1:1}", "expected a string key", 1),
        ("{'a':1}", "expected a string key", 1),
        // Strings
        ("\"abc", "unterminated string", 4),
        ("\"", "unterminated string", 1),
        ("\"\\", "unterminated string", 2),
        (#""a\x""#, "bad escape", 3),
        (#""\a""#, "bad escape", 2),
        (#""\U0041""#, "bad escape", 2),
        (#""\'""#, "bad escape", 2),
        (#""\u12""#, "truncated \\u escape", 2),
        (#""\u004"#, "truncated \\u escape", 2),
        (#""\u12G4""#, "bad \\u escape", 2),
        (#""\u004""#, "bad \\u escape", 2),
        (#""\u-123""#, "bad \\u escape", 2),
        ("\"\\u0041", "unterminated string", 7),
        ("\"a\tb\"", "control character in string", 2),
        ("\"a\nb\"", "control character in string", 2),
        ("\"\u{0}\"", "control character in string", 1),
        ("\"\u{1F}\"", "control character in string", 1),
        ("[\"ok\",\"x\r\"]", "control character in string", 8),
        ("{\"k\u{1}\":1}", "control character in string", 3),
    ]

    @Test("invalid documents fail with a reason and the offset of the problem", arguments: invalidDocuments)
    func invalidDocument(document: String, reason: String, offset: Int) {
        #expect(throws: JSONScanner.SyntaxError(offset: offset, reason: reason)) {
            _ = try scanDocument(document)
        }
    }

    @Test("every control character U+0000-U+001F is refused inside a string, raw")
    func everyControlCharacterIsRefused() {
        for byte in UInt8(0)..<0x20 {
            let document: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "a"), byte, UInt8(ascii: "\"")]
            #expect(throws: JSONScanner.SyntaxError(offset: 2, reason: "control character in string")) {
                _ = try scanDocument(document)
            }
        }
    }

    @Test("every escaped control character is accepted")
    func escapedControlCharactersAreAccepted() throws {
        for byte in 0..<0x20 {
            let hex = String(byte, radix: 16)
            let literal = "\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "\""
            _ = try scanDocument(literal)
        }
    }

    @Test("bytes above 0x7F pass through strings unchecked (UTF-8 is validated earlier)")
    func highBytesInStrings() throws {
        let bytes: [UInt8] = [0x22, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x22]
        let span = try scanDocument(bytes)
        #expect(span == JSONScanner.Span(start: 0, end: 8))
    }

    @Test("SyntaxError describes the reason and the offset")
    func syntaxErrorDescription() throws {
        let error = try #require(throws: JSONScanner.SyntaxError.self) { _ = try scanDocument("[1,]") }
        #expect(error.description == "unexpected character at byte 3")
    }

    @Test("Span reports its count")
    func spanCount() {
        #expect(JSONScanner.Span(start: 3, end: 10).count == 7)
        #expect(JSONScanner.Span(start: 4, end: 4).count == 0)
    }
}

@Suite("JSONScanner: nesting limit")
struct JSONScannerNestingTests {
    static func nestedArrays(_ depth: Int, inner: String = "") -> String {
        String(repeating: "[", count: depth) + inner + String(repeating: "]", count: depth)
    }

    @Test("64 nested arrays are accepted with the default limit")
    func atDefaultLimit() throws {
        let document = Self.nestedArrays(64, inner: "1")
        let span = try scanDocument(document)
        #expect(span.count == document.utf8.count)
    }

    @Test("65 nested arrays fail with a clear reason at the 65th bracket")
    func justPastDefaultLimit() {
        #expect(throws: JSONScanner.SyntaxError(offset: 64, reason: "nesting deeper than 64 levels")) {
            _ = try scanDocument(Self.nestedArrays(65))
        }
    }

    @Test("100 nested arrays fail with a clear reason")
    func hundredNestedArrays() throws {
        let error = try #require(throws: JSONScanner.SyntaxError.self) {
            _ = try scanDocument(Self.nestedArrays(100))
        }
        #expect(error.reason == "nesting deeper than 64 levels")
        #expect(error.offset == 64)
        #expect(error.description.contains("nesting deeper than 64 levels"))
    }

    @Test("a nesting bomb of 200,000 brackets fails fast, without deep recursion")
    func nestingBomb() {
        let bomb = String(repeating: "[", count: 200_000)
        #expect(throws: JSONScanner.SyntaxError(offset: 64, reason: "nesting deeper than 64 levels")) {
            _ = try scanDocument(bomb)
        }
        let objectBomb = String(repeating: #"{"a":"#, count: 100_000)
        #expect(throws: JSONScanner.SyntaxError(offset: 64 * 5, reason: "nesting deeper than 64 levels")) {
            _ = try scanDocument(objectBomb)
        }
    }

    @Test("objects and arrays both count towards the limit", arguments: [1, 2, 3, 5, 10])
    func customLimit(maxDepth: Int) throws {
        // Exactly maxDepth levels of alternating objects and arrays pass...
        func mixed(_ levels: Int) -> String {
            var open = ""
            var close = ""
            for level in 0..<levels {
                if level % 2 == 0 {
                    open += #"{"k":"#
                    close = "}" + close
                } else {
                    open += "["
                    close = "]" + close
                }
            }
            return open + "0" + close
        }
        _ = try scanDocument(mixed(maxDepth), maxDepth: maxDepth)
        _ = try scanDocument(Self.nestedArrays(maxDepth), maxDepth: maxDepth)
        // ...one more level fails.
        #expect(throws: JSONScanner.SyntaxError.self) { _ = try scanDocument(mixed(maxDepth + 1), maxDepth: maxDepth) }
        #expect(throws: JSONScanner.SyntaxError(offset: maxDepth, reason: "nesting deeper than \(maxDepth) levels")) {
            _ = try scanDocument(Self.nestedArrays(maxDepth + 1), maxDepth: maxDepth)
        }
    }

    @Test("a limit of zero accepts scalars only")
    func zeroLimit() throws {
        _ = try scanDocument("42", maxDepth: 0)
        _ = try scanDocument(#""s""#, maxDepth: 0)
        #expect(throws: JSONScanner.SyntaxError(offset: 0, reason: "nesting deeper than 0 levels")) {
            _ = try scanDocument("[]", maxDepth: 0)
        }
        #expect(throws: JSONScanner.SyntaxError(offset: 0, reason: "nesting deeper than 0 levels")) {
            _ = try scanDocument("{}", maxDepth: 0)
        }
    }

    @Test("siblings do not add depth: wide documents are fine")
    func wideDocument() throws {
        let wide = "[" + Array(repeating: Self.nestedArrays(60), count: 1000).joined(separator: ",") + "]"
        _ = try scanDocument(wide)
        let wideObject = "{" + (0..<500).map { #""k\#($0)":{"a":[1,2,{"b":null}]}"# }.joined(separator: ",") + "}"
        _ = try scanDocument(wideObject, maxDepth: 4)
    }

    @Test("scanObject counts the top-level object as the first level")
    func scanObjectDepth() throws {
        // The request object is level 1, so its values may nest 63 more levels under the default limit.
        let ok = #"{"a":"# + Self.nestedArrays(63) + "}"
        #expect(try scanObjectMembers(ok).count == 1)
        let tooDeep = #"{"a":"# + Self.nestedArrays(64) + "}"
        #expect(throws: JSONScanner.SyntaxError(offset: 5 + 63, reason: "nesting deeper than 64 levels")) {
            _ = try scanObjectMembers(tooDeep)
        }
        #expect(throws: JSONScanner.SyntaxError(offset: 5, reason: "nesting deeper than 1 levels")) {
            _ = try scanObjectMembers(#"{"a":[]}"#, maxDepth: 1)
        }
        #expect(try scanObjectMembers(#"{"a":1,"b":"x"}"#, maxDepth: 1).count == 2)
    }
}

@Suite("JSONScanner: top-level objects")
struct JSONScannerObjectTests {
    @Test("members are reported in order with keys, escape flags, exact value spans and lead bytes")
    func membersInOrder() throws {
        let text = #" { "a" : 1 , "b\n":[true, 2] ,"c":{"d":"e"}, "s":"x y", "n":null, "f":false, "t":true, "m":-2.5e1, "":0 } "#
        let members = try scanObjectMembers(text)
        #expect(
            members == [
                ScannedMember(key: "a", keyHasEscapes: false, value: "1", valueLead: "1"),
                ScannedMember(key: #"b\n"#, keyHasEscapes: true, value: "[true, 2]", valueLead: "["),
                ScannedMember(key: "c", keyHasEscapes: false, value: #"{"d":"e"}"#, valueLead: "{"),
                ScannedMember(key: "s", keyHasEscapes: false, value: #""x y""#, valueLead: "\""),
                ScannedMember(key: "n", keyHasEscapes: false, value: "null", valueLead: "n"),
                ScannedMember(key: "f", keyHasEscapes: false, value: "false", valueLead: "f"),
                ScannedMember(key: "t", keyHasEscapes: false, value: "true", valueLead: "t"),
                ScannedMember(key: "m", keyHasEscapes: false, value: "-2.5e1", valueLead: "-"),
                ScannedMember(key: "", keyHasEscapes: false, value: "0", valueLead: "0"),
            ]
        )
    }

    @Test("key spans exclude the quotes and point at the right bytes")
    func keySpans() throws {
        let bytes = Array(#"{"type":"ping","x\"y":2}"#.utf8)
        var keys: [JSONScanner.Span] = []
        var values: [JSONScanner.Span] = []
        try bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            try scanner.scanObject { member in
                keys.append(member.key)
                values.append(member.value)
            }
        }
        #expect(keys == [JSONScanner.Span(start: 2, end: 6), JSONScanner.Span(start: 16, end: 20)])
        #expect(values == [JSONScanner.Span(start: 8, end: 14), JSONScanner.Span(start: 22, end: 23)])
    }

    @Test("an empty object reports no members", arguments: ["{}", " { } ", "\n{\t}\r\n"])
    func emptyObject(text: String) throws {
        #expect(try scanObjectMembers(text).isEmpty)
    }

    @Test("duplicate keys are all reported, in order")
    func duplicateKeys() throws {
        let members = try scanObjectMembers(#"{"a":1,"a":2,"a":3}"#)
        #expect(members.map(\.value) == ["1", "2", "3"])
        #expect(members.allSatisfy { $0.key == "a" })
    }

    /// (text, reason, offset)
    static let invalidObjects: [(String, String, Int)] = [
        ("", "empty message", 0),
        ("   ", "empty message", 3),
        ("[1]", "expected a JSON object", 0),
        (#""x""#, "expected a JSON object", 0),
        ("42", "expected a JSON object", 0),
        ("null", "expected a JSON object", 0),
        ("  [", "expected a JSON object", 2),
        ("{}x", "unexpected bytes after the object", 2),
        ("{} {}", "unexpected bytes after the object", 3),
        (#"{"a":1}}"#, "unexpected bytes after the object", 7),
        ("{", "expected a string key", 1),
        (#"{"a""#, "expected ':'", 4),
        (#"{"a":"#, "unexpected end of input", 5),
        (#"{"a":1"#, "expected ',' or '}'", 6),
        (#"{"a":1,"#, "expected a string key", 7),
        (#"{"a":1,}"#, "expected a string key", 7),
        (#"{"a":1;"b":2}"#, "expected ',' or '}'", 6),
        (#"{"a":[1,2}"#, "expected ',' or ']'", 9),
        (#"{"a":01}"#, "expected ',' or '}'", 6),
        (#"{"a":"b\q"}"#, "bad escape", 8),
    ]

    @Test("invalid objects fail with a reason and offset", arguments: invalidObjects)
    func invalidObject(text: String, reason: String, offset: Int) {
        #expect(throws: JSONScanner.SyntaxError(offset: offset, reason: reason)) {
            _ = try scanObjectMembers(text)
        }
    }

    @Test("members before a syntax error are reported, none after")
    func membersBeforeError() throws {
        let bytes = Array(#"{"a":1,"b":[2],"c":,"d":4}"#.utf8)
        var seen: [String] = []
        let error = try #require(throws: JSONScanner.SyntaxError.self) {
            try bytes.withUnsafeBytes { raw in
                var scanner = JSONScanner(raw)
                try scanner.scanObject { seen.append(bytes.text($0.key)) }
            }
        }
        #expect(seen == ["a", "b"])
        #expect(error == JSONScanner.SyntaxError(offset: 19, reason: "unexpected character"))
    }

    @Test("an error thrown by the member callback stops the scan and propagates")
    func callbackErrorPropagates() throws {
        struct Stop: Error, Equatable {}
        let bytes = Array(#"{"a":1,"b":2,"c":3}"#.utf8)
        var calls = 0
        #expect(throws: Stop()) {
            try bytes.withUnsafeBytes { raw in
                var scanner = JSONScanner(raw)
                try scanner.scanObject { member in
                    calls += 1
                    if bytes.text(member.key) == "b" { throw Stop() }
                }
            }
        }
        #expect(calls == 2)
    }
}

@Suite("JSONScanner.decodeString")
struct JSONScannerDecodeStringTests {
    /// (JSON string literal, decoded text)
    static let decodings: [(String, String)] = [
        (#""""#, ""),
        (#""plain""#, "plain"),
        ("\"héllo 日本 😀\"", "héllo 日本 😀"),
        (#""\"""#, "\""),
        (#""\\""#, "\\"),
        (#""\/""#, "/"),
        (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"),
        (#""a\"b\\c\/d""#, "a\"b\\c/d"),
        (#""\u0041""#, "A"),
        (#""\u00e9""#, "é"),
        (#""\u00E9""#, "é"),
        (#""\u20ac\u20AC""#, "€€"),
        (#""\u0000""#, "\u{0}"),
        (#""\u001f""#, "\u{1F}"),
        (#""\u007f""#, "\u{7F}"),
        (#""\uffff""#, "\u{FFFF}"),
        (#""\ud7ff""#, "\u{D7FF}"),
        (#""\ue000""#, "\u{E000}"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uD83D\uDE00""#, "😀"),
        (#""\ud800\udc00""#, "\u{10000}"),
        (#""\udbff\udfff""#, "\u{10FFFF}"),
        (#""n\u0065ws""#, "news"),
        ("\"é\\u00e9😀\\ud83d\\ude00x\\n\"", "éé😀😀x\n"),
        (#""\\u0041""#, "\\u0041"),  // an escaped backslash followed by text, not an escape
        (#""\u005c""#, "\\"),
    ]

    @Test("escapes and surrogate pairs decode", arguments: decodings)
    func decodes(literal: String, expected: String) throws {
        let decoded = try decodeJSONString(literal)
        #expect(decoded == expected)
        // Compare scalars too: String equality is canonical-equivalence, not identity.
        #expect(decoded.map { Array($0.unicodeScalars) } == Array(expected.unicodeScalars))
    }

    static let loneSurrogates: [String] = [
        #""\ud83d""#,
        #""\ud83dx""#,
        #""x\ud83d""#,
        #""\ude00""#,
        #""a\ude00b""#,
        #""\ude00\ud83d""#,  // reversed pair
        #""\ud83d\ud83d""#,  // two high halves
        #""\ud83d\u0041""#,  // high half then a plain escape
        #""\ud83d\n""#,
        #""\ud83d\\ude00""#,  // an escaped backslash, not a second \u escape
        #""\udfff""#,
        #""\udbff""#,
    ]

    @Test("lone or misordered surrogates decode to nil", arguments: loneSurrogates)
    func loneSurrogate(literal: String) throws {
        #expect(try decodeJSONString(literal) == nil)
    }

    @Test("a span in the middle of a buffer decodes only its own bytes")
    func spanInsideBuffer() {
        let bytes = Array(#"xx"ab\u0063d"yy"#.utf8)
        let span = JSONScanner.Span(start: 3, end: 12)
        #expect(bytes.text(span) == #"ab\u0063d"#)
        let decoded = bytes.withUnsafeBytes { JSONScanner.decodeString($0, span, hasEscapes: true) }
        #expect(decoded == "abcd")
    }

    @Test("without the escape flag the bytes are returned verbatim")
    func noEscapeFlagIsVerbatim() {
        let bytes = Array(#"a\u0062"#.utf8)
        let span = JSONScanner.Span(start: 0, end: bytes.count)
        let verbatim = bytes.withUnsafeBytes { JSONScanner.decodeString($0, span, hasEscapes: false) }
        #expect(verbatim == #"a\u0062"#)
        let decoded = bytes.withUnsafeBytes { JSONScanner.decodeString($0, span, hasEscapes: true) }
        #expect(decoded == "ab")
    }

    @Test("an empty span decodes to the empty string")
    func emptySpan() {
        let bytes = Array("abc".utf8)
        let span = JSONScanner.Span(start: 1, end: 1)
        #expect(bytes.withUnsafeBytes { JSONScanner.decodeString($0, span, hasEscapes: false) } == "")
        #expect(bytes.withUnsafeBytes { JSONScanner.decodeString($0, span, hasEscapes: true) } == "")
    }

    @Test("every BMP scalar written as \\uXXXX decodes to itself")
    func everyBMPScalar() throws {
        var mismatches: [UInt32] = []
        for code in UInt32(0)...0xFFFF {
            let hex = String(code, radix: 16)
            let literal = "\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "\""
            let decoded = try decodeJSONString(literal)
            if let scalar = Unicode.Scalar(code) {
                if decoded.map({ Array($0.unicodeScalars) }) != [scalar] { mismatches.append(code) }
            } else if decoded != nil {
                mismatches.append(code)  // surrogate halves alone must be refused
            }
        }
        #expect(mismatches.isEmpty, "mismatched code points: \(mismatches.prefix(10))")
    }

    @Test("hexValue reads both cases and refuses everything else")
    func hexValue() {
        for byte in UInt8(0)...255 {
            let expected: UInt32? =
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte) - 48
                case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte) - 97 + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte) - 65 + 10
                default: nil
                }
            #expect(JSONScanner.hexValue(byte) == expected, "byte \(byte)")
        }
    }

    @Test("an array of strings is read whole, or not at all")
    func arraysOfStrings() throws {
        let object = try JSONObject(parsing: Array(#"{"a":["x", "y\"z", "\u00e9"],"b":[],"c":["x",1],"d":"x","e":[["x"]]}"#.utf8))
        #expect(object.strings("a") == ["x", "y\"z", "é"])
        #expect(object.strings("b") == [])
        #expect(object.strings("c") == nil && object.strings("d") == nil && object.strings("e") == nil && object.strings("f") == nil)
    }
}
