import SwitchboardCore

/// The glyphs the dashboard draws with, and their ASCII fallbacks.
struct Glyphs {
    let ascii: Bool
    var hline: String { ascii ? "-" : "─" }
    var vline: String { ascii ? "|" : "│" }
    var topLeft: String { ascii ? "+" : "┌" }
    var topRight: String { ascii ? "+" : "┐" }
    var bottomLeft: String { ascii ? "+" : "└" }
    var bottomRight: String { ascii ? "+" : "┘" }
    var ellipsis: String { ascii ? "~" : "…" }
    var ascending: String { ascii ? "^" : "▲" }
    var descending: String { ascii ? "v" : "▼" }
    var dash: String { ascii ? "-" : "–" }
    var barFull: String { ascii ? "#" : "█" }
    var barEmpty: String { ascii ? "." : "░" }
    var dot: String { ascii ? "*" : "●" }
    var down: String { ascii ? "rx " : "↓" }
    var up: String { ascii ? "tx " : "↑" }
    var promptMark: String { ascii ? ">" : "›" }
    var cursor: String { ascii ? "_" : "▏" }
}
