import SwitchboardCore

enum Align { case left, right }

/// A grid plus the drawing conventions: ASCII sanitising, truncation with an ellipsis, and a
/// role that overrides every other (the selected row).
struct Canvas {
    var grid: Grid
    let glyphs: Glyphs
    var override: Role?

    init(rows: Int, cols: Int, ascii: Bool) {
        grid = Grid(rows: rows, cols: cols)
        glyphs = Glyphs(ascii: ascii)
    }

    var rows: Int { grid.rows }
    var cols: Int { grid.cols }

    func clean(_ text: String) -> String {
        guard glyphs.ascii else { return text }
        var result = ""
        for character in text {
            result.append(character.isASCII ? character : "?")
        }
        return result
    }

    /// Writes text as is (clipped), returning the columns used.
    @discardableResult
    mutating func put(_ text: String, _ row: Int, _ col: Int, _ role: Role, max width: Int? = nil) -> Int {
        grid.put(clean(text), row: row, col: col, role: override ?? role, maxWidth: width)
    }

    /// Writes text into exactly `width` columns: truncated with an ellipsis, padded, aligned.
    mutating func field(_ text: String, _ row: Int, _ col: Int, _ width: Int, _ role: Role, _ align: Align = .left) {
        guard width > 0 else { return }
        let text = fit(clean(text), width)
        let used = Grid.displayWidth(of: text)
        let start = align == .right ? col + width - used : col
        grid.fill(row: row, from: col, to: col + width, role: override ?? role)
        grid.put(text, row: row, col: start, role: override ?? role, maxWidth: width)
    }

    /// `text` cut to `width` columns, ending in an ellipsis when cut.
    func fit(_ text: String, _ width: Int) -> String {
        guard width > 0 else { return "" }
        if Grid.displayWidth(of: text) <= width { return text }
        var result = ""
        var used = 0
        let limit = width - 1
        for character in text {
            let w = Grid.displayWidth(of: character)
            if used + w > limit { break }
            result.append(character)
            used += w
        }
        return result + glyphs.ellipsis
    }

    mutating func fill(_ row: Int, _ from: Int, _ to: Int, _ role: Role) {
        grid.fill(row: row, from: from, to: to, role: override ?? role)
    }

    /// A horizontal rule from `from` to `to` with a title: `─ Title ─ info ────`.
    mutating func rule(_ row: Int, _ from: Int, _ to: Int, title: String, info: String, focused: Bool) {
        guard to > from else { return }
        for col in from..<to { grid.put(glyphs.hline, row: row, col: col, role: focused ? .title : .border) }
        var x = from + min(1, to - from)
        x += grid.put(" " + clean(title) + " ", row: row, col: x, role: focused ? .title : .label, maxWidth: to - x)
        if !info.isEmpty, x + 4 < to {
            x += 1
            grid.put(" " + fit(clean(info), to - x - 2) + " ", row: row, col: x, role: .dim, maxWidth: to - x)
        }
    }

    /// A bar `width` columns wide, filled for `value / capacity` (any non-zero value shows).
    mutating func bar(_ value: Int, capacity: Int, _ row: Int, _ col: Int, _ width: Int, fullRole: Role) {
        guard width > 0 else { return }
        var filled = 0
        if capacity > 0, value > 0 {
            filled = min(width, max(1, Int((Double(value) / Double(capacity) * Double(width)).rounded(.up))))
        }
        for i in 0..<width {
            put(i < filled ? glyphs.barFull : glyphs.barEmpty, row, col + i, i < filled ? fullRole : .barEmpty)
        }
    }

    /// A frame with a title; the inside is cleared.
    mutating func box(top: Int, left: Int, height: Int, width: Int, title: String) {
        guard height >= 2, width >= 2 else { return }
        let bottom = top + height - 1
        let right = left + width - 1
        for row in top...bottom { grid.fill(row: row, from: left, to: right + 1, role: .normal) }
        for col in left...right {
            grid.put(glyphs.hline, row: top, col: col, role: .border)
            grid.put(glyphs.hline, row: bottom, col: col, role: .border)
        }
        for row in top...bottom {
            grid.put(glyphs.vline, row: row, col: left, role: .border)
            grid.put(glyphs.vline, row: row, col: right, role: .border)
        }
        grid.put(glyphs.topLeft, row: top, col: left, role: .border)
        grid.put(glyphs.topRight, row: top, col: right, role: .border)
        grid.put(glyphs.bottomLeft, row: bottom, col: left, role: .border)
        grid.put(glyphs.bottomRight, row: bottom, col: right, role: .border)
        if width > 6 {
            grid.put(" " + fit(clean(title), width - 6) + " ", row: top, col: left + 2, role: .title, maxWidth: width - 4)
        }
    }
}
