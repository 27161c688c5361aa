import Testing

@testable import SwitchboardCore

@Suite("ChannelName")
struct ChannelNameTests {
    static let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@/-".utf8)

    @Test("the longest name is 128 bytes")
    func maxLength() {
        #expect(ChannelName.maxLength == 128)
    }

    static let validNames: [String] = [
        "a", "Z", "0", "_", ".", ":", "@", "/", "-", "news", "chat:lobby", "user@example.com", "a/b/c", "v1.2-beta_3",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@/-",
        String(repeating: "x", count: 127),
        String(repeating: "x", count: 128),
    ]

    @Test("valid names", arguments: validNames)
    func valid(name: String) {
        #expect(ChannelName.isValid(name))
    }

    static let invalidNames: [String] = [
        "", " ", "a b", " news", "news ", "news\n", "tab\there", "a#b", "a*", "a?b", "a+b", "a,b", "a;b", "a=b", "a\"b",
        "a\\b", "a'b", "(a)", "[a]", "{a}", "a|b", "a~b", "a%20b", "a&b", "a!b", "a$b", "a^b", "`a`", "<a>",
        "é", "news-é", "日本", "😀", "a\u{0}", "\u{7F}", "\u{FEFF}news",
        String(repeating: "x", count: 129),
        String(repeating: "x", count: 1000),
        String(repeating: "é", count: 64),  // 128 bytes, but not ASCII
    ]

    @Test("invalid names", arguments: invalidNames)
    func invalid(name: String) {
        #expect(!ChannelName.isValid(name))
    }

    @Test("exactly the documented ASCII alphabet is allowed")
    func everyASCIICharacter() {
        for byte in UInt8(0)..<0x80 {
            let name = String(decoding: [byte], as: UTF8.self)
            #expect(ChannelName.isValid(name) == Self.allowed.contains(byte), "byte \(byte)")
            #expect(ChannelName.isValid("a" + name + "b") == Self.allowed.contains(byte), "byte \(byte) inside a name")
            #expect(ChannelName.isAllowed(byte) == Self.allowed.contains(byte), "byte \(byte)")
        }
        for byte in UInt8(0x80)...0xFF {
            #expect(!ChannelName.isAllowed(byte), "byte \(byte)")
        }
    }

    @Test("length is counted in bytes: a bad byte past 128 still fails, 128 good bytes pass")
    func lengthLimit() {
        let limit = String(repeating: "a", count: ChannelName.maxLength)
        #expect(ChannelName.isValid(limit))
        #expect(!ChannelName.isValid(limit + "a"))
        #expect(!ChannelName.isValid(limit + " "))
        #expect(!ChannelName.isValid(String(repeating: "a", count: 127) + "é"))  // 129 bytes
    }
}
