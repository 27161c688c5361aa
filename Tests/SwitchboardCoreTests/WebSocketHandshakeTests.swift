import Testing

@testable import SwitchboardCore

@Suite("WebSocketHandshake")
struct WebSocketHandshakeTests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test("the RFC 6455 §1.3 example key gives the documented accept value")
    func rfcExample() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    /// Accept values computed independently (Python hashlib + base64).
    static let acceptValues: [(String, String)] = [
        ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
        ("AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI="),
    ]

    @Test("accept values match independently computed ones", arguments: acceptValues)
    func acceptValue(key: String, accept: String) {
        #expect(WebSocketHandshake.acceptValue(forKey: key) == accept)
    }

    @Test("the magic GUID is the one RFC 6455 fixes")
    func magicGUID() {
        #expect(WebSocketHandshake.magicGUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    }

    /// (message, SHA-1 hex digest): FIPS 180 examples plus every padding boundary.
    static let sha1Vectors: [(String, String)] = [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
        (String(repeating: "a", count: 55), "c1c8bbdc22796e28c0e15163d20899b65621d65a"),
        (String(repeating: "a", count: 56), "c2db330f6083854c99d4b5bfb6e8f29f201be699"),
        (String(repeating: "a", count: 63), "03f09f5b158a7a8cdad920bddc29b81c18a551f5"),
        (String(repeating: "a", count: 64), "0098ba824b5c16427bd7a1122a5a442a25ec644d"),
        (String(repeating: "a", count: 65), "11655326c708d70319be2610e8a57d9a5b959d3b"),
        (String(repeating: "a", count: 119), "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"),
        (String(repeating: "a", count: 120), "f34c1488385346a55709ba056ddd08280dd4c6d6"),
    ]

    @Test("SHA-1 matches known vectors", arguments: sha1Vectors)
    func sha1(message: String, digest: String) {
        let result = WebSocketHandshake.sha1(Array(message.utf8))
        #expect(result.count == 20)
        #expect(Self.hex(result) == digest)
    }

    @Test("SHA-1 of a million 'a's (FIPS 180 long message)")
    func sha1Million() {
        let digest = WebSocketHandshake.sha1([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
        #expect(Self.hex(digest) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    /// RFC 4648 §10 test vectors.
    static let base64Vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test("base64 matches RFC 4648", arguments: base64Vectors)
    func base64(input: String, output: String) {
        #expect(WebSocketHandshake.base64(Array(input.utf8)) == output)
    }

    @Test("base64 uses + and / for the high values")
    func base64Alphabet() {
        #expect(WebSocketHandshake.base64([0xFB, 0xEF, 0xFF]) == "++//")
        #expect(WebSocketHandshake.base64([0x00, 0x10, 0x83, 0x10, 0x51, 0x87]) == "ABCDEFGH")
        #expect(WebSocketHandshake.base64([0xFF]) == "/w==")
    }

    @Test("accept values are always 28 characters of padded base64")
    func acceptShape() {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<50 {
            let key = WebSocketHandshake.base64((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let accept = WebSocketHandshake.acceptValue(forKey: key)
            #expect(accept.utf8.count == 28)
            #expect(accept.hasSuffix("="))
            #expect(!accept.hasSuffix("=="))
        }
    }

    static let validKeys: [String] = [
        "dGhlIHNhbXBsZSBub25jZQ==",
        "x3JJHMbDL1EzLkh9GBhXDw==",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "/////////////////////w==",
        "+/+/+/+/+/+/+/+/+/+/+w==",
        "abcdefghijklmnopqrstuQ==",
    ]

    @Test("keys that are base64 of 16 bytes are valid", arguments: validKeys)
    func validKey(key: String) {
        #expect(WebSocketHandshake.isValidKey(key))
    }

    @Test("the base64 of any 16 random bytes is a valid key")
    func randomKeysAreValid() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let key = WebSocketHandshake.base64((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
            #expect(WebSocketHandshake.isValidKey(key), "\(key)")
        }
    }

    static let invalidKeys: [(String, String)] = [
        ("empty", ""),
        ("23 characters", "dGhlIHNhbXBsZSBub25jZQ="),
        ("25 characters", "dGhlIHNhbXBsZSBub25jZQ==="),
        ("no padding", "dGhlIHNhbXBsZSBub25jZQAA"),
        ("one padding character", "dGhlIHNhbXBsZSBub25jZQA="),
        ("padding too early", "dGhlIHNhbXBsZSBub25jZ==="),
        ("padding in the middle", "dGhlIHNhbX==ZSBub25jZQ=="),
        ("base64url alphabet -", "dGhlIHNhbXBsZSBub25jZ-=="),
        ("base64url alphabet _", "_GhlIHNhbXBsZSBub25jZQ=="),
        ("space inside", "dGhlIHNhbXBs ZSBub25jZ=="),
        ("leading space", " dGhlIHNhbXBsZSBub25jZQ=="),
        ("trailing space", "dGhlIHNhbXBsZSBub25jZQ== "),
        ("punctuation", "dGhlIHNhbXBsZSBub25jZ!=="),
        ("non-ASCII", "dGhlIHNhbXBsZSBub25jé=="),
        ("base64 of 15 bytes", "dGhlIHNhbXBsZSBub25j"),
        ("base64 of 17 bytes", "dGhlIHNhbXBsZSBub25jZUE="),
        ("base64 of 32 bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ]

    @Test("malformed keys are refused", arguments: invalidKeys)
    func invalidKey(name: String, key: String) {
        #expect(!WebSocketHandshake.isValidKey(key), "\(name)")
    }
}
