import SwitchboardCore

/// A column of a table: heading, width, alignment, and how to draw one row's cell.
struct Column<Row> {
    var title: String
    var width: Int
    var align: Align = .left
    /// Lower is more important: columns are dropped from the highest priority up when narrow.
    var priority: Int
    /// Share of the spare width this column takes (0: fixed).
    var flex: Int = 0
    var sorted: Bool = false
    var draw: (inout Canvas, Row, _ row: Int, _ col: Int, _ width: Int) -> Void
}

/// Chooses the columns that fit in `width` (by priority) and places them, sharing spare space
/// among the flexible ones.
func place<Row>(_ columns: [Column<Row>], width: Int) -> [(column: Column<Row>, x: Int, width: Int)] {
    var chosen = Set<Int>()
    var used = 0
    for index in columns.indices.sorted(by: { columns[$0].priority < columns[$1].priority }) {
        let need = columns[index].width + (chosen.isEmpty ? 0 : 1)
        if used + need <= width {
            chosen.insert(index)
            used += need
        }
    }
    var widths = columns.map(\.width)
    let flexible = chosen.filter { columns[$0].flex > 0 }.sorted()
    let weights = flexible.reduce(0) { $0 + columns[$1].flex }
    var spare = width - used
    if weights > 0 {
        let share = spare
        for index in flexible {
            let extra = share * columns[index].flex / weights
            widths[index] += extra
            spare -= extra
        }
        if let last = flexible.last { widths[last] += spare }
    }
    var x = 0
    var result: [(column: Column<Row>, x: Int, width: Int)] = []
    for index in columns.indices where chosen.contains(index) {
        result.append((columns[index], x, widths[index]))
        x += widths[index] + 1
    }
    return result
}

/// Draws a table: headings on `header`, then `rows` on the `body` lines from `start`.
func drawTable<Row>(
    _ canvas: inout Canvas, columns: [Column<Row>], rows: [Row], header: Int?, body: Range<Int>, left: Int, width: Int,
    selected: Int?, emptyMessage: String, emptyHints: [String] = [], descending: Bool = false
) {
    let placed = place(columns, width: width)
    if let header {
        canvas.fill(header, left, left + width, .label)
        for (column, x, w) in placed {
            let arrow = column.sorted ? column.title + (descending ? canvas.glyphs.descending : canvas.glyphs.ascending) : column.title
            canvas.field(arrow, header, left + x, w, column.sorted ? .accent : .label, column.align)
        }
    }
    if rows.isEmpty, let first = body.first {
        canvas.field(emptyMessage, first, left + 1, width - 1, .dim)
        for (line, hint) in zip(body.dropFirst(), emptyHints) { canvas.field(hint, line, left + 3, width - 3, .accent) }
        return
    }
    for (offset, line) in body.enumerated() where offset < rows.count {
        let isSelected = selected == offset
        if isSelected {
            canvas.fill(line, left, left + width, .selected)
            canvas.override = .selected
        }
        for (column, x, w) in placed {
            column.draw(&canvas, rows[offset], line, left + x, w)
        }
        canvas.override = nil
    }
}

/// The part of `items` a list of `height` rows shows, keeping `selected` in view.
func window<T>(_ items: [T], selected: Int, scroll: Int, height: Int) -> (start: Int, items: ArraySlice<T>) {
    var start = min(scroll, selected)
    start = max(start, selected - height + 1)
    start = max(0, min(start, items.count - height))
    return (start, items.dropFirst(start).prefix(height))
}
