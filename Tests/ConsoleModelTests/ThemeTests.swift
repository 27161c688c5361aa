import ConsoleModel
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ThemeTests {
    /// `themes/` at the repository root, found from this file's path.
    static var themesDirectory: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/ConsoleModelTests/ThemeTests.swift
        return parts.joined(separator: "/") + "/themes"
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static let shipped = ["default", "light", "high-contrast", "solarized-dark", "monochrome"]

    @Test(arguments: shipped)
    func shippedThemeParsesAndCoversEveryRole(name: String) throws {
        let text = try #require(Self.read(Self.themesDirectory + "/\(name).theme"), "missing themes/\(name).theme")
        let theme = try Theme(parsing: text, name: name)
        #expect(theme.name == name)
        for role in Role.allCases {
            #expect(text.contains("\n\(role.rawValue) "), "\(name) does not set \(role.rawValue)")
            #expect(theme.styles[role] != nil)
        }
    }

    @Test func defaultThemeFileMatchesTheBuiltIn() throws {
        let text = try #require(Self.read(Self.themesDirectory + "/default.theme"))
        let theme = try Theme(parsing: text, name: "default")
        for role in Role.allCases { #expect(theme.styles[role] == Theme.builtIn.styles[role], "\(role)") }
    }

    @Test func monochromeUsesNoColours() throws {
        let text = try #require(Self.read(Self.themesDirectory + "/monochrome.theme"))
        let theme = try Theme(parsing: text, name: "monochrome")
        for role in Role.allCases {
            #expect(theme.styles[role]?.foreground == .terminalDefault)
            #expect(theme.styles[role]?.background == .terminalDefault)
        }
        #expect(theme.styles[.selected]?.reverse == true)
    }

    @Test func parsesColoursAttributesAndComments() throws {
        let theme = try Theme(
            parsing: """
                # a comment

                header = black on cyan bold   # trailing comment
                selected=reverse
                spark-in = 81 underline dim
                bad = bright-red on 52
                good = default
                """, name: "t")
        #expect(theme.styles[.header] == Style(foreground: .indexed(0), background: .indexed(6), bold: true))
        #expect(theme.styles[.selected] == Style(reverse: true))
        #expect(theme.styles[.sparkIn] == Style(foreground: .indexed(81), underline: true, dim: true))
        #expect(theme.styles[.bad] == Style(foreground: .indexed(9), background: .indexed(52)))
        #expect(theme.styles[.good] == Style())
        // Roles the file leaves out keep the built-in style.
        #expect(theme.styles[.title] == Theme.builtIn.styles[.title])
    }

    @Test(arguments: [
        ("header = red\nbogus = blue\n", 2, "unknown role 'bogus'"),
        ("# c\n\nwarn = purple bold", 3, "unknown colour 'purple'"),
        ("good = green on 256", 1, "unknown colour '256'"),
        ("title = red blink", 1, "unknown attribute 'blink'"),
        ("title = red on", 1, "missing colour after 'on'"),
        ("dim =", 1, "missing style after '='"),
        ("header red", 1, "expected 'role = style', got 'header red'"),
        ("normal = default\nlabel = #ff0000", 2, "unknown colour '#ff0000'"),
        ("bad = red green", 1, "unexpected colour 'green' (write 'fg on bg')"),
    ])
    func badThemesNameTheLine(text: String, line: Int, message: String) {
        #expect(throws: ThemeError(line: line, message: message)) {
            try Theme(parsing: text, name: "bad")
        }
    }

    @Test func errorDescribesItself() {
        #expect(ThemeError(line: 4, message: "unknown role 'x'").description == "line 4: unknown role 'x'")
    }

    @Test func stepDownTo16And8() {
        var theme = Theme(name: "t", styles: [:])
        theme.styles[.header] = Style(foreground: .indexed(196), background: .indexed(21), bold: true)
        theme.styles[.dim] = Style(foreground: .indexed(244))
        theme.styles[.good] = Style(foreground: .indexed(10))
        let sixteen = theme.stepDown(colors: 16)
        #expect(sixteen.styles[.header] == Style(foreground: .indexed(9), background: .indexed(4), bold: true))
        #expect(sixteen.styles[.dim]?.foreground == .indexed(8))
        #expect(sixteen.styles[.good]?.foreground == .indexed(10))
        let eight = theme.stepDown(colors: 8)
        #expect(eight.styles[.header] == Style(foreground: .indexed(1), background: .indexed(4), bold: true))
        #expect(eight.styles[.good]?.foreground == .indexed(2))
        for role in Role.allCases {
            for color in [eight.styles[role]!.foreground, eight.styles[role]!.background] {
                if case .indexed(let n) = color { #expect(n < 8) }
            }
        }
        #expect(theme.stepDown(colors: 256).styles[.header] == theme.styles[.header])
    }

    @Test func stepDownToNoColoursKeepsAttributesAndReversesHighlights() {
        let mono = Theme.builtIn.stepDown(colors: 0)
        for role in Role.allCases {
            #expect(mono.styles[role]?.foreground == .terminalDefault)
            #expect(mono.styles[role]?.background == .terminalDefault)
        }
        #expect(mono.styles[.selected]?.reverse == true)
        #expect(mono.styles[.header]?.reverse == true)
        #expect(mono.styles[.header]?.bold == true)
        #expect(mono.styles[.normal]?.reverse == false)
    }

    @Test func colourNames() {
        #expect(ThemeColor(word: "default") == .terminalDefault)
        #expect(ThemeColor(word: "white") == .indexed(7))
        #expect(ThemeColor(word: "bright-black") == .indexed(8))
        #expect(ThemeColor(word: "Bright-White") == .indexed(15))
        #expect(ThemeColor(word: "255") == .indexed(255))
        #expect(ThemeColor(word: "256") == nil)
        #expect(ThemeColor(word: "-1") == nil)
    }
}
