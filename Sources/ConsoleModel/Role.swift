/// What a cell means, not how it looks: a ``Theme`` maps each role to a ``Style``.
///
/// Raw values are the keys used in theme files (`selected = black on cyan`).
public enum Role: String, CaseIterable, Sendable {
    /// Ordinary text.
    case normal
    /// The top line: server name, address, totals.
    case header
    /// Pane titles (of the focused pane) and overlay titles.
    case title
    /// Rules, frames and separators.
    case border
    /// Column headings and field names.
    case label
    /// Numbers and field values.
    case value
    /// Less important text: timestamps, units, idle rows.
    case dim
    /// Healthy: `ok`, connects, low mailbox depth.
    case good
    /// Worth a look: mailbox over half full, kicks, restarts.
    case warn
    /// Trouble: mailbox over 80 % full, errors, slow consumers.
    case bad
    /// The selected row.
    case selected
    /// Emphasis: broadcasts, the sort column, the server name.
    case accent
    /// Sparkline of messages in.
    case sparkIn
    /// Sparkline of messages out.
    case sparkOut
    /// The filled part of a bar.
    case barFull
    /// The empty part of a bar.
    case barEmpty
    /// The bottom line: key hints and status messages.
    case status
    /// An open prompt on the bottom line.
    case prompt
    /// Key names in hints and in the help overlay.
    case helpKey
}
