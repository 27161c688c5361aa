import Testing

@testable import SwitchboardCore

@Suite("UTF8Validation")
struct UTF8ValidationTests {
    /// Swift's own strict decoder, used as an independent oracle.
    static func oracle(_ bytes: [UInt8]) -> Bool {
        String(validating: bytes, as: UTF8.self) != nil
    }

    static func isValidRaw(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { UTF8Validation.isValid($0) }
    }

    @Test("empty input is valid")
    func empty() {
        #expect(UTF8Validation.isValid([UInt8]()))
        #expect(UTF8Validation.isValid(UnsafeRawBufferPointer(start: nil, count: 0)))
        #expect(Self.isValidRaw([]))
    }

    @Test("every ASCII byte is valid, alone and in runs")
    func ascii() {
        for byte in UInt8(0)..<0x80 {
            #expect(Self.isValidRaw([byte]), "byte \(byte)")
        }
        #expect(Self.isValidRaw(Array(0..<0x80)))
        #expect(UTF8Validation.isValid(Array(#"{"type":"publish","channel":"news","data":{"x":[1,2,3]}}"#.utf8)))
    }

    /// Well-formed sequences, including every boundary of RFC 3629's table.
    static let validSequences: [[UInt8]] = [
        [0xC2, 0x80],  // U+0080, smallest 2-byte
        [0xC3, 0xA9],  // é
        [0xDF, 0xBF],  // U+07FF, largest 2-byte
        [0xE0, 0xA0, 0x80],  // U+0800, smallest 3-byte
        [0xE2, 0x82, 0xAC],  // €
        [0xEC, 0xBF, 0xBF],
        [0xED, 0x80, 0x80],  // U+D000
        [0xED, 0x9F, 0xBF],  // U+D7FF, just below the surrogates
        [0xEE, 0x80, 0x80],  // U+E000, just above the surrogates
        [0xEF, 0xBB, 0xBF],  // BOM
        [0xEF, 0xBF, 0xBF],  // U+FFFF
        [0xF0, 0x90, 0x80, 0x80],  // U+10000, smallest 4-byte
        [0xF0, 0x9F, 0x98, 0x80],  // 😀
        [0xF3, 0xBF, 0xBF, 0xBF],
        [0xF4, 0x80, 0x80, 0x80],  // U+100000
        [0xF4, 0x8F, 0xBF, 0xBF],  // U+10FFFF, the largest code point
        Array("héllo wörld 日本語 😀🎉 Ελληνικά".utf8),
    ]

    @Test("well-formed multi-byte sequences are valid", arguments: validSequences)
    func validSequence(bytes: [UInt8]) {
        #expect(Self.isValidRaw(bytes))
        // Also behind and between ASCII, inside and across the 8-byte fast path.
        #expect(Self.isValidRaw(Array("abcdefg".utf8) + bytes + Array("hijklmnopq".utf8)))
        #expect(Self.isValidRaw(bytes + bytes + bytes))
    }

    /// Ill-formed input, by kind.
    static let invalidSequences: [(String, [UInt8])] = [
        ("lone continuation 80", [0x80]),
        ("lone continuation BF", [0xBF]),
        ("overlong NUL C0 80", [0xC0, 0x80]),
        ("overlong C1 BF", [0xC1, 0xBF]),
        ("overlong 3-byte E0 80 80", [0xE0, 0x80, 0x80]),
        ("overlong 3-byte E0 9F BF", [0xE0, 0x9F, 0xBF]),
        ("overlong 4-byte F0 80 80 80", [0xF0, 0x80, 0x80, 0x80]),
        ("overlong 4-byte F0 8F BF BF", [0xF0, 0x8F, 0xBF, 0xBF]),
        ("high surrogate ED A0 80", [0xED, 0xA0, 0x80]),
        ("low surrogate ED BF BF", [0xED, 0xBF, 0xBF]),
        ("CESU-8 pair", [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]),
        ("above U+10FFFF F4 90 80 80", [0xF4, 0x90, 0x80, 0x80]),
        ("F5 lead", [0xF5, 0x80, 0x80, 0x80]),
        ("F7 lead", [0xF7, 0xBF, 0xBF, 0xBF]),
        ("5-byte lead F8", [0xF8, 0x88, 0x80, 0x80, 0x80]),
        ("FE", [0xFE]),
        ("FF", [0xFF]),
        ("truncated 2-byte", [0xC3]),
        ("truncated 3-byte (1 of 2)", [0xE2]),
        ("truncated 3-byte (2 of 3)", [0xE2, 0x82]),
        ("truncated 4-byte (3 of 4)", [0xF0, 0x9F, 0x98]),
        ("truncated 4-byte (2 of 4)", [0xF0, 0x9F]),
        ("ASCII instead of continuation", [0xC3, 0x41]),
        ("bad second byte of 3", [0xE2, 0x28, 0xA1]),
        ("bad third byte of 3", [0xE2, 0x82, 0x28]),
        ("bad fourth byte of 4", [0xF0, 0x9F, 0x98, 0x41]),
        ("lead instead of continuation", [0xE2, 0x82, 0xC3, 0xA9]),
        ("too many continuations", [0xC3, 0xA9, 0xA9]),
        ("truncated after ASCII", Array("hello".utf8) + [0xE2, 0x82]),
        ("truncated after a full word", Array("12345678".utf8) + [0xC3]),
        ("Latin-1 é", Array("caf".utf8) + [0xE9]),
    ]

    @Test("ill-formed sequences are refused", arguments: invalidSequences)
    func invalidSequence(name: String, bytes: [UInt8]) {
        #expect(!Self.isValidRaw(bytes), "\(name)")
        #expect(!Self.isValidRaw(Array("0123456789abcdef".utf8) + bytes), "\(name) after ASCII")
        #expect(!Self.isValidRaw(bytes + Array("0123456789abcdef".utf8)), "\(name) before ASCII")
    }

    @Test("a bad byte is found at every offset of long ASCII runs", arguments: [7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100])
    func badByteAtEveryOffset(length: Int) {
        let ascii = Array(repeating: UInt8(ascii: "a"), count: length)
        #expect(Self.isValidRaw(ascii))
        for offset in 0..<length {
            for bad: UInt8 in [0x80, 0xC0, 0xFF] {
                var bytes = ascii
                bytes[offset] = bad
                #expect(!Self.isValidRaw(bytes), "length \(length), 0x\(String(bad, radix: 16)) at \(offset)")
            }
        }
    }

    @Test("multi-byte characters straddling the 8-byte words are valid at every offset", arguments: [16, 17, 24, 40])
    func sequencesStraddlingWords(length: Int) {
        let characters: [[UInt8]] = [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80]]
        for character in characters {
            for offset in 0...(length - character.count) {
                var bytes = Array(repeating: UInt8(ascii: "x"), count: length)
                bytes.replaceSubrange(offset..<offset + character.count, with: character)
                #expect(Self.isValidRaw(bytes), "\(character) at \(offset)")
                // Cutting the character short anywhere makes the text invalid.
                for cut in 1..<character.count {
                    var truncated = bytes
                    truncated.remove(at: offset + cut)
                    #expect(!Self.isValidRaw(truncated), "\(character) missing byte \(cut) at \(offset)")
                }
            }
        }
    }

    @Test("misaligned starting addresses are handled", arguments: 0..<8)
    func misalignedBase(shift: Int) {
        let padding = Array(repeating: UInt8(0xFF), count: shift)  // invalid, but outside the slice
        let body = Array("aligned? no matter: 日本 and more ASCII text here".utf8)
        let storage = padding + body + [0xFF]
        storage.withUnsafeBytes { raw in
            let valid = UnsafeRawBufferPointer(rebasing: raw[shift..<(shift + body.count)])
            #expect(UTF8Validation.isValid(valid))
            let withTrailingBad = UnsafeRawBufferPointer(rebasing: raw[shift..<storage.count])
            #expect(!UTF8Validation.isValid(withTrailingBad))
        }
    }

    @Test("agrees with the standard library on every 1- and 2-byte input")
    func exhaustiveTwoBytes() {
        var disagreements: [[UInt8]] = []
        for a in UInt8(0)...255 {
            if Self.isValidRaw([a]) != Self.oracle([a]) { disagreements.append([a]) }
            for b in UInt8(0)...255 where Self.isValidRaw([a, b]) != Self.oracle([a, b]) {
                disagreements.append([a, b])
            }
        }
        #expect(disagreements.isEmpty, "first disagreements: \(disagreements.prefix(5))")
    }

    @Test("agrees with the standard library on 3-byte inputs with the tricky leads", arguments: [0xE0, 0xE1, 0xED, 0xEE, 0xEF] as [UInt8])
    func exhaustiveThreeBytes(lead: UInt8) {
        var disagreements: [[UInt8]] = []
        for b in UInt8(0)...255 {
            for c in UInt8(0)...255 {
                let bytes = [lead, b, c]
                if Self.isValidRaw(bytes) != Self.oracle(bytes) { disagreements.append(bytes) }
            }
        }
        #expect(disagreements.isEmpty, "first disagreements: \(disagreements.prefix(5))")
    }

    @Test("agrees with the standard library on 4-byte inputs around the edges", arguments: [0xF0, 0xF3, 0xF4, 0xF5] as [UInt8])
    func fourByteEdges(lead: UInt8) {
        var disagreements: [[UInt8]] = []
        for b in UInt8(0x70)...0xC8 {
            for c: UInt8 in [0x41, 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0] {
                for d: UInt8 in [0x00, 0x80, 0xBF, 0xC0, 0xFF] {
                    let bytes = [lead, b, c, d]
                    if Self.isValidRaw(bytes) != Self.oracle(bytes) { disagreements.append(bytes) }
                }
            }
        }
        #expect(disagreements.isEmpty, "first disagreements: \(disagreements.prefix(5))")
    }

    @Test("agrees with the standard library on random mixtures")
    func randomMixtures() {
        var generator = SeededGenerator(seed: 0x5EED)
        let pieces: [[UInt8]] = [
            Array("abcdefgh".utf8), Array("x".utf8), [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80],
            [0x80], [0xC0], [0xED, 0xA0], [0xF4, 0x90], [0xFF], [0xE0], [0xBF, 0xBF],
        ]
        var validCount = 0
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                bytes += pieces.randomElement(using: &generator)!
            }
            let expected = Self.oracle(bytes)
            if expected { validCount += 1 }
            #expect(Self.isValidRaw(bytes) == expected, "\(bytes)")
        }
        // The mixture must exercise both outcomes to mean anything.
        #expect(validCount > 100)
        #expect(validCount < 2900)
    }

    @Test("every Unicode scalar's UTF-8 encoding is valid")
    func everyScalar() {
        var refused: [UInt32] = []
        var code: UInt32 = 0
        while code <= 0x10FFFF {
            if let scalar = Unicode.Scalar(code), !Self.isValidRaw(Array(String(Character(scalar)).utf8)) {
                refused.append(code)
            }
            code += code < 0x20000 ? 1 : 97  // every BMP and SMP scalar, a sample above
        }
        #expect(refused.isEmpty, "refused: \(refused.prefix(5))")
    }

    @Test("the Collection overload works for contiguous and non-contiguous collections")
    func collectionOverload() {
        #expect(UTF8Validation.isValid(Array("é😀".utf8)))
        #expect(UTF8Validation.isValid(Array("xé😀".utf8)[1...]))
        #expect(!UTF8Validation.isValid(Array("é😀".utf8)[1...]))
        #expect(UTF8Validation.isValid("native string é".utf8))
        #expect(UTF8Validation.isValid(repeatElement(UInt8(ascii: "a"), count: 100)))
        #expect(!UTF8Validation.isValid(repeatElement(UInt8(0x80), count: 3)))
        #expect(UTF8Validation.isValid(([0xC3, 0xA9, 0x41] as [UInt8]).lazy.map { $0 }))
        #expect(!UTF8Validation.isValid(([0xED, 0xA0, 0x80] as [UInt8]).lazy.map { $0 }))
        #expect(UTF8Validation.isValid(EmptyCollection<UInt8>()))
    }

    @Test("a fragment may end inside a character; it fails as soon as it cannot be UTF-8")
    func completePrefixLength() {
        func prefix(_ bytes: [UInt8]) -> Int? { bytes.withUnsafeBytes(UTF8Validation.completePrefixLength) }
        #expect(prefix([]) == 0)
        #expect(prefix(Array("héllo".utf8)) == 6)
        #expect(prefix([0x41, 0xE6]) == 1)  // 東 cut after its first byte
        #expect(prefix([0x41, 0xE6, 0x9D]) == 1)
        #expect(prefix([0x41, 0xE6, 0x9D, 0xB1]) == 4)
        #expect(prefix([0xF0, 0x9F, 0x98]) == 0)  // an emoji still arriving
        #expect(prefix([0x41, 0xED, 0xA0]) == nil)  // a surrogate can never become valid
        #expect(prefix([0xF4, 0x90]) == nil)  // above U+10FFFF
        #expect(prefix([0xC3, 0x41]) == nil)
        #expect(prefix([0xFF]) == nil)
        // Autobahn 6.4.1: valid, then an invalid code point in the next fragment
        #expect(prefix(Array("κόσμε".utf8) + [0xF4, 0x90, 0x80, 0x80]) == nil)
    }
}
