/// One terminal cell: a grapheme and the role it is drawn with.
///
/// A double-width character occupies two cells: the left one holds it, the right one holds `""`
/// (when copying out, the empty cell contributes nothing and the terminal advances two columns).
public struct Cell: Equatable, Sendable {
    public var text: String
    public var role: Role

    public init(text: String, role: Role) {
        self.text = text
        self.role = role
    }

    /// A space in the ``Role/normal`` role.
    public static let blank = Cell(text: " ", role: .normal)
}

/// A rectangle of cells: what one frame of the console looks like, before any terminal sees it.
public struct Grid: Sendable {
    public let rows: Int
    public let cols: Int
    private var cells: [Cell]

    /// A grid of spaces in `role`; negative sizes count as zero.
    public init(rows: Int, cols: Int, role: Role = .normal) {
        self.rows = max(0, rows)
        self.cols = max(0, cols)
        cells = Array(repeating: Cell(text: " ", role: role), count: self.rows * self.cols)
    }

    /// The cell at `row`, `col`; outside the grid, a blank.
    public subscript(row: Int, col: Int) -> Cell {
        guard contains(row: row, col: col) else { return .blank }
        return cells[row * cols + col]
    }

    private func contains(row: Int, col: Int) -> Bool {
        row >= 0 && row < rows && col >= 0 && col < cols
    }

    /// Sets one cell, first blanking the other half of any double-width character it cuts.
    private mutating func set(_ row: Int, _ col: Int, _ cell: Cell, rightHalf: Bool = false) {
        let index = row * cols + col
        if !rightHalf, cells[index].text.isEmpty, col > 0 {
            // Overwriting the right half: the left half loses its character.
            cells[index - 1].text = " "
        }
        if col + 1 < cols, cells[index + 1].text.isEmpty, Grid.displayWidth(of: cells[index].text) == 2 {
            // Overwriting the left half: the right half becomes a plain space.
            cells[index + 1].text = " "
        }
        cells[index] = cell
    }

    /// Writes `text` from (`row`, `col`) and returns how many columns it used.
    ///
    /// Clips at the right edge or after `maxWidth` columns; a double-width character that would
    /// straddle the limit is dropped. Control characters are shown as `?`; zero-width
    /// characters with no base (stray combining marks) are skipped.
    @discardableResult
    public mutating func put(_ text: String, row: Int, col: Int, role: Role = .normal, maxWidth: Int? = nil) -> Int {
        guard row >= 0, row < rows, col < cols else { return 0 }
        var limit = cols
        if let maxWidth { limit = min(limit, col + max(0, maxWidth)) }
        var x = col
        for character in text {
            var glyph = character
            var width = Grid.displayWidth(of: character)
            if Grid.isControl(character) {
                glyph = "?"
                width = 1
            }
            if width == 0 { continue }
            if x + width > limit { break }
            if x >= 0 {
                set(row, x, Cell(text: String(glyph), role: role))
                if width == 2 { set(row, x + 1, Cell(text: "", role: role), rightHalf: true) }
            } else if x + width > 0 {
                // A wide character cut by the left edge: keep the visible half blank.
                set(row, 0, Cell(text: " ", role: role))
            }
            x += width
        }
        return max(0, x - max(col, 0))
    }

    /// Paints columns `from..<to` of `row` as spaces in `role`.
    public mutating func fill(row: Int, from: Int, to: Int, role: Role) {
        guard row >= 0, row < rows else { return }
        let start = max(0, from)
        let end = min(cols, to)
        guard start < end else { return }
        for col in start..<end { set(row, col, Cell(text: " ", role: role)) }
    }

    /// Changes the role of columns `from..<to` of `row`, keeping the text.
    public mutating func paint(row: Int, from: Int, to: Int, role: Role) {
        guard row >= 0, row < rows else { return }
        let start = max(0, from)
        let end = min(cols, to)
        guard start < end else { return }
        for col in start..<end { cells[row * cols + col].role = role }
    }

    /// One string per row; each is exactly `cols` display columns wide.
    public var lines: [String] {
        (0..<rows).map { row in
            var line = ""
            for col in 0..<cols { line += cells[row * cols + col].text }
            return line
        }
    }

    /// The text of one row.
    public func line(_ row: Int) -> String {
        guard row >= 0, row < rows else { return "" }
        var line = ""
        for col in 0..<cols { line += cells[row * cols + col].text }
        return line
    }

    // MARK: Widths

    /// How many terminal columns `character` takes: 0, 1 or 2, agreeing with glibc `wcwidth`
    /// in `C.UTF-8` for the characters a console shows (control characters count 0).
    public static func displayWidth(of character: Character) -> Int {
        var width = 0
        for scalar in character.unicodeScalars {
            width += scalarWidth(scalar)
        }
        return min(width, 2)
    }

    /// The display width of a string: the sum over its characters.
    public static func displayWidth(of text: String) -> Int {
        var width = 0
        for character in text { width += displayWidth(of: character) }
        return width
    }

    static func isControl(_ character: Character) -> Bool {
        guard let scalar = character.unicodeScalars.first else { return false }
        return scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
    }

    /// Width of one scalar, as glibc's `wcwidth` (Unicode East Asian Width W/F = 2, marks = 0).
    static func scalarWidth(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        if v < 0x300 { return 1 }
        if isZeroWidth(v, scalar) { return 0 }
        return isWide(v) ? 2 : 1
    }

    private static func isZeroWidth(_ v: UInt32, _ scalar: Unicode.Scalar) -> Bool {
        switch v {
        case 0x0300...0x036F, 0x1160...0x11FF, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F,
            0xD7B0...0xD7FF, 0xFE00...0xFE0F, 0xFE20...0xFE2F, 0xFEFF, 0x1171E, 0xE0000...0xE0FFF:
            return true
        default:
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .enclosingMark: return true
            case .format:
                // Prepended concatenation marks are visible: glibc gives them width 1.
                switch v {
                case 0x00AD, 0x0600...0x0605, 0x06DD, 0x070F, 0x0890...0x0891, 0x08E2, 0x110BD, 0x110CD: return false
                default: return true
                }
            default: return false
            }
        }
    }

    private static func isWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0, 0x23F3,
            0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F, 0x2693, 0x26A1, 0x26AA...0x26AB,
            0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2...0x26F3, 0x26F5, 0x26FA,
            0x26FD, 0x2705, 0x270A...0x270B, 0x2728, 0x274C, 0x274E, 0x2753...0x2755, 0x2757,
            0x2795...0x2797, 0x27B0, 0x27BF, 0x2B1B...0x2B1C, 0x2B50, 0x2B55:
            return true
        case 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DFF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
            0xFF00...0xFF60, 0xFFE0...0xFFE6:
            return true
        case 0x16FE0...0x16FE4, 0x16FF0...0x16FF1, 0x17000...0x18D08, 0x1AFF0...0x1AFFE, 0x1B000...0x1B2FF, 0x1F004, 0x1F0CF, 0x1F18E,
            0x1F191...0x1F19A, 0x1F200...0x1F202, 0x1F210...0x1F23B, 0x1F240...0x1F248, 0x1F250...0x1F251,
            0x1F260...0x1F265, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C, 0x1F37E...0x1F393,
            0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0, 0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440,
            0x1F442...0x1F4FC, 0x1F4FF...0x1F53D, 0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A,
            0x1F595...0x1F596, 0x1F5A4, 0x1F5FB...0x1F64F, 0x1F680...0x1F6C5, 0x1F6CC, 0x1F6D0...0x1F6D2,
            0x1F6D5...0x1F6D7, 0x1F6DC...0x1F6DF, 0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB,
            0x1F7F0, 0x1F90C...0x1F93A, 0x1F93C...0x1F945, 0x1F947...0x1F9FF, 0x1FA70...0x1FAFF,
            0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}
