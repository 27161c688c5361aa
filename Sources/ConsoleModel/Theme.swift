/// A colour in a theme: the terminal's own, or an index in the 256-colour palette.
public enum ThemeColor: Equatable, Sendable {
    /// The terminal's default foreground or background (`default` in theme files).
    case terminalDefault
    /// 0–7 the basic colours, 8–15 their bright forms, 16–231 the colour cube, 232–255 greys.
    case indexed(Int)

    /// The names theme files accept, in palette order: `black` is 0, `bright-white` is 15.
    public static let names = [
        "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
        "bright-black", "bright-red", "bright-green", "bright-yellow", "bright-blue", "bright-magenta", "bright-cyan",
        "bright-white",
    ]

    /// Parses `default`, a colour name (also `grey`/`gray` for bright-black) or a number 0–255.
    public init?(word: String) {
        let lower = word.lowercased()
        if lower == "default" {
            self = .terminalDefault
        } else if let index = Self.names.firstIndex(of: lower) {
            self = .indexed(index)
        } else if lower == "grey" || lower == "gray" {
            self = .indexed(8)
        } else if !lower.isEmpty, lower.allSatisfy({ $0.isASCII && $0.isNumber }), lower.count <= 3, let n = Int(lower), n <= 255 {
            self = .indexed(n)
        } else {
            return nil
        }
    }

    /// How a theme file writes this colour.
    public var word: String {
        switch self {
        case .terminalDefault: "default"
        case .indexed(let n): n < Self.names.count ? Self.names[n] : String(n)
        }
    }
}

/// How one role looks.
public struct Style: Equatable, Sendable {
    public var foreground: ThemeColor
    public var background: ThemeColor
    public var bold: Bool
    public var underline: Bool
    public var reverse: Bool
    public var dim: Bool

    public init(
        foreground: ThemeColor = .terminalDefault, background: ThemeColor = .terminalDefault, bold: Bool = false,
        underline: Bool = false, reverse: Bool = false, dim: Bool = false
    ) {
        self.foreground = foreground
        self.background = background
        self.bold = bold
        self.underline = underline
        self.reverse = reverse
        self.dim = dim
    }

    /// Terminal colours, no attributes.
    public static let plain = Style()

    /// The style as a theme file line's right-hand side.
    public var description: String {
        var words = [foreground.word]
        if background != .terminalDefault { words += ["on", background.word] }
        if bold { words.append("bold") }
        if underline { words.append("underline") }
        if reverse { words.append("reverse") }
        if dim { words.append("dim") }
        return words.joined(separator: " ")
    }
}

/// A theme file could not be read: which line, and what was wrong with it.
public struct ThemeError: Error, Equatable, CustomStringConvertible {
    /// 1-based line number in the theme text.
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// Styles by role, read from a small htop/btop-like text file.
///
/// ```
/// # comment
/// header   = black on cyan bold
/// selected = reverse
/// good     = 2
/// ```
///
/// Each line is `role = [colour] [on colour] [bold] [underline] [reverse] [dim]`; colours are
/// `default`, `black` … `white`, `bright-black` … `bright-white`, or 0–255. A role the file does
/// not mention keeps the built-in style.
public struct Theme: Sendable {
    public var name: String
    public var styles: [Role: Style]

    public init(name: String, styles: [Role: Style]) {
        self.name = name
        self.styles = styles
    }

    /// The style for `role`, falling back to the built-in default.
    public func style(for role: Role) -> Style {
        styles[role] ?? Theme.builtIn.styles[role] ?? .plain
    }

    /// The default dark theme (the same as `themes/default.theme`).
    public static let builtIn: Theme = {
        func s(_ fg: Int?, on bg: Int? = nil, bold: Bool = false, underline: Bool = false, reverse: Bool = false, dim: Bool = false) -> Style {
            Style(
                foreground: fg.map(ThemeColor.indexed) ?? .terminalDefault, background: bg.map(ThemeColor.indexed) ?? .terminalDefault,
                bold: bold, underline: underline, reverse: reverse, dim: dim)
        }
        let styles: [Role: Style] = [
            .normal: s(nil),
            .header: s(255, on: 24, bold: true),
            .title: s(45, bold: true),
            .border: s(240),
            .label: s(110, bold: true),
            .value: s(255),
            .dim: s(245),
            .good: s(114),
            .warn: s(221, bold: true),
            .bad: s(203, bold: true),
            .selected: s(16, on: 117, reverse: false),
            .accent: s(213),
            .sparkIn: s(81),
            .sparkOut: s(177),
            .barFull: s(78),
            .barEmpty: s(238),
            .status: s(252, on: 236),
            .prompt: s(230, on: 236, bold: true),
            .helpKey: s(45, on: 236, bold: true),
        ]
        return Theme(name: "default", styles: styles)
    }()

    /// Reads a theme file. Throws on an unknown role, colour or attribute, naming the line.
    public init(parsing text: String, name: String) throws(ThemeError) {
        self.name = name
        var styles = Theme.builtIn.styles
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Theme.stripComment(String(rawLine))
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ThemeError(line: lineNumber, message: "expected 'role = style', got '\(Theme.trimmed(line))'")
            }
            let key = Theme.trimmed(String(line[..<equals]))
            guard let role = Theme.role(named: key) else {
                throw ThemeError(line: lineNumber, message: "unknown role '\(key)'")
            }
            let words = line[line.index(after: equals)...].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            styles[role] = try Theme.style(words, line: lineNumber)
        }
        self.styles = styles
    }

    /// The text of a theme file that gives every role its style in this theme.
    public var fileText: String {
        var text = "# switchboard theme: \(name)\n"
        for role in Role.allCases {
            text += "\(role.rawValue) = \(style(for: role).description)\n"
        }
        return text
    }

    private static func stripComment(_ line: String) -> String {
        // `#` starts a comment at the start of a line, or as a word of its own after whitespace
        // (so `#ff0000` is reported as a colour theme files do not support, not silently dropped).
        let characters = Array(line)
        for index in characters.indices where characters[index] == "#" {
            let before = characters[..<index].allSatisfy { $0 == " " || $0 == "\t" }
            let spaced = index > 0 && (characters[index - 1] == " " || characters[index - 1] == "\t")
            let wordEnds = index + 1 == characters.count || characters[index + 1] == " " || characters[index + 1] == "\t"
            if before || (spaced && wordEnds) { return String(characters[..<index]) }
        }
        return line
    }

    private static func trimmed(_ text: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = text.firstIndex(where: { !isSpace($0) }), let end = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[start...end])
    }

    /// Role names match the raw value, ignoring case, `-` and `_` (`spark-in`, `spark_in`, `sparkIn`).
    static func role(named name: String) -> Role? {
        func normal(_ s: String) -> String { s.lowercased().filter { $0 != "-" && $0 != "_" } }
        let wanted = normal(name)
        guard !wanted.isEmpty else { return nil }
        return Role.allCases.first { normal($0.rawValue) == wanted }
    }

    private static let attributes = ["bold", "underline", "reverse", "dim"]

    private static func style(_ words: [String], line: Int) throws(ThemeError) -> Style {
        guard !words.isEmpty else { throw ThemeError(line: line, message: "missing style after '='") }
        var style = Style()
        var index = 0
        if let color = ThemeColor(word: words[0]) {
            style.foreground = color
            index = 1
        } else if !attributes.contains(words[0].lowercased()) && words[0].lowercased() != "on" {
            throw ThemeError(line: line, message: "unknown colour '\(words[0])'")
        }
        if index < words.count, words[index].lowercased() == "on" {
            guard index + 1 < words.count else { throw ThemeError(line: line, message: "missing colour after 'on'") }
            guard let color = ThemeColor(word: words[index + 1]) else {
                throw ThemeError(line: line, message: "unknown colour '\(words[index + 1])'")
            }
            style.background = color
            index += 2
        }
        while index < words.count {
            let word = words[index]
            switch word.lowercased() {
            case "bold": style.bold = true
            case "underline": style.underline = true
            case "reverse": style.reverse = true
            case "dim": style.dim = true
            default:
                if ThemeColor(word: word) != nil {
                    throw ThemeError(line: line, message: "unexpected colour '\(word)' (write 'fg on bg')")
                }
                throw ThemeError(line: line, message: "unknown attribute '\(word)'")
            }
            index += 1
        }
        return style
    }

    // MARK: Fewer colours

    /// The theme for a terminal with `colors` colours: 256-colour indices map to the nearest of
    /// the 16 or 8 basic colours; with no colours every colour becomes the terminal default and
    /// roles that relied on a background colour (the selected row, the header) use reverse video.
    public func stepDown(colors: Int) -> Theme {
        if colors >= 256 { return self }
        var result = self
        for role in Role.allCases {
            var style = self.style(for: role)
            if colors < 8 {
                if style.background != .terminalDefault && !style.reverse { style.reverse = true }
                style.foreground = .terminalDefault
                style.background = .terminalDefault
            } else {
                style.foreground = Theme.nearest(style.foreground, among: colors >= 16 ? 16 : 8)
                style.background = Theme.nearest(style.background, among: colors >= 16 ? 16 : 8)
            }
            result.styles[role] = style
        }
        return result
    }

    /// Nearest of the first `count` palette colours (by RGB distance, xterm's palette).
    static func nearest(_ color: ThemeColor, among count: Int) -> ThemeColor {
        guard case .indexed(let index) = color else { return color }
        if index < count { return color }
        let target = rgb(index)
        var best = 0
        var bestDistance = Int.max
        for candidate in 0..<count {
            let c = rgb(candidate)
            let d = (c.0 - target.0) * (c.0 - target.0) + (c.1 - target.1) * (c.1 - target.1) + (c.2 - target.2) * (c.2 - target.2)
            if d < bestDistance {
                best = candidate
                bestDistance = d
            }
        }
        return .indexed(best)
    }

    /// xterm's RGB for a palette index.
    static func rgb(_ index: Int) -> (Int, Int, Int) {
        let basic: [(Int, Int, Int)] = [
            (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
            (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
        ]
        switch index {
        case 0..<16: return basic[index]
        case 16..<232:
            let levels = [0, 95, 135, 175, 215, 255]
            let n = index - 16
            return (levels[n / 36], levels[(n / 6) % 6], levels[n % 6])
        default:
            let grey = 8 + 10 * (min(index, 255) - 232)
            return (grey, grey, grey)
        }
    }
}
