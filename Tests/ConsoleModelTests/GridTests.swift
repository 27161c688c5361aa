import ConsoleModel
import Testing

@Suite struct GridTests {
    @Test func widthsAgreeWithGlibcWcwidth() {
        // Sample from glibc wcwidth in C.UTF-8 (the whole table was compared for U+0020–U+3FFFF).
        let one: [Character] = ["a", "~", "é", "✓", "─", "│", "┌", "⚠", "▵", "▁", "▄", "█", "░", "⠿", "●", "…", "–", "µ", "→"]
        let two: [Character] = ["日", "東", "京", "한", "Ａ", "😀", "🚀", "🤖", "🌍", "〜", "ᄀ"]
        for c in one { #expect(Grid.displayWidth(of: c) == 1, "\(c)") }
        for c in two { #expect(Grid.displayWidth(of: c) == 2, "\(c)") }
        #expect(Grid.displayWidth(of: Character("\u{0301}")) == 0)
        #expect(Grid.displayWidth(of: Character("e\u{0301}")) == 1)
        #expect(Grid.displayWidth(of: Character("\u{200B}")) == 0)
        #expect(Grid.displayWidth(of: "ｱ") == 1)  // halfwidth katakana
    }

    @Test func wideCharactersTakeTwoCellsAndNeverStraddleTheEdge() {
        var g = Grid(rows: 1, cols: 5)
        #expect(g.put("日本語", row: 0, col: 0, role: .normal) == 4)
        #expect(g.lines == ["日本 "])
        #expect(g[0, 0].text == "日")
        #expect(g[0, 1].text == "")
        #expect(g[0, 4].text == " ")
    }

    @Test func putClipsAtMaxWidthAndReturnsColumns() {
        var g = Grid(rows: 2, cols: 10)
        #expect(g.put("abcdef", row: 0, col: 2, role: .value, maxWidth: 3) == 3)
        #expect(g.lines[0] == "  abc     ")
        #expect(g[0, 2].role == .value)
        #expect(g[0, 5].role == .normal)
        #expect(g.put("東京", row: 1, col: 0, role: .normal, maxWidth: 3) == 2)
        #expect(g.lines[1] == "東        ")
        #expect(g.put("x", row: 5, col: 0, role: .normal) == 0)
    }

    @Test func overwritingHalfAWideCharacterBlanksTheOtherHalf() {
        var g = Grid(rows: 1, cols: 6)
        g.put("東京", row: 0, col: 0, role: .normal)
        g.put("x", row: 0, col: 1, role: .normal)  // right half of 東
        #expect(g.lines == [" x京  "])
        g.put("y", row: 0, col: 2, role: .normal)  // left half of 京
        #expect(g.lines == [" xy   "])
        #expect(width(g.lines[0]) == 6)
    }

    @Test func fillPaintsARange() {
        var g = Grid(rows: 1, cols: 4)
        g.put("abcd", row: 0, col: 0, role: .normal)
        g.fill(row: 0, from: 1, to: 3, role: .selected)
        #expect(g.lines == ["a  d"])
        #expect(g[0, 1].role == .selected)
        #expect(g[0, 3].role == .normal)
    }

    @Test func controlCharactersShowAsQuestionMarks() {
        var g = Grid(rows: 1, cols: 4)
        g.put("a\tb", row: 0, col: 0, role: .normal)
        #expect(g.lines == ["a?b "])
    }
}

@Suite struct SparklineAndFormatTests {
    @Test func sparklineScalesToTheMaximum() {
        #expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7], width: 8, ascii: false) == "▁▂▃▄▅▆▇█")
        #expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7], width: 8, ascii: true) == " .:-=+*#")
    }

    @Test func sparklineKeepsTheNewestAndPads() {
        #expect(sparkline([7, 0, 7], width: 2, ascii: true) == " #")
        #expect(sparkline([1, 1], width: 5, ascii: false) == "   ██")
        #expect(sparkline([], width: 3, ascii: false) == "   ")
        #expect(sparkline([0, 0], width: 2, ascii: false) == "▁▁")
        #expect(sparkline([.nan, -3, 2], width: 3, ascii: true) == "  #")
        #expect(sparkline([1, 2], width: 0, ascii: true) == "")
    }

    @Test func humanUnits() {
        #expect(Format.count(999) == "999")
        #expect(Format.count(1234) == "1.2k")
        #expect(Format.count(12_345) == "12k")
        #expect(Format.count(3_400_000) == "3.4M")
        #expect(Format.count(2.5) == "2.5")
        #expect(Format.duration(12) == "12s")
        #expect(Format.duration(185) == "3m05s")
        #expect(Format.duration(7380) == "2h03m")
        #expect(Format.duration(4 * 86400 + 7200) == "4d02h")
        #expect(Format.bytes(512) == "512B")
        #expect(Format.bytes(1_500_000) == "1.4MB")
        #expect(Format.grouped(1_234_567) == "1,234,567")
        #expect(Format.clock(1_700_000_000) == "22:13:20")
        #expect(Format.micros(120) == "120µs")
        #expect(Format.micros(2300) == "2.3ms")
    }
}
