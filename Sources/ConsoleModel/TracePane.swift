public import SwitchboardCore

/// An open trace: what it follows and the lines received so far (the newest
/// ``TracePane/capacity``), with the pane's own pause and filter.
///
/// The console's ``ViewState`` holds it; the loop feeds it every ``TraceMessage`` the source
/// sends (``ViewState/receive(_:)``), so the pane, like the rest of the console, is drawn from
/// what was received and nothing else — a recording replays it.
public struct TracePane: Sendable {
    /// The newest lines kept; older ones are let go (the count says how many were received).
    public static let capacity = 5000

    public let target: TraceTarget
    /// The server's id for the trace, once it is in place.
    public private(set) var id: String?
    /// The newest lines, oldest first.
    public private(set) var lines: [TraceLine] = []
    /// Lines received since the trace started (kept or not).
    public private(set) var received = 0
    /// Lines the server left out (over `trace-rate`, or this reader fell behind).
    public private(set) var skipped = 0
    /// Why the trace ended, once it has.
    public private(set) var ended: String?
    /// While paused: how many lines had been received when `p` was pressed; the pane shows
    /// those and keeps receiving behind them.
    public var pausedAt: Int?
    /// Case-insensitive text the shown lines must contain.
    public var filter = ""

    public init(target: TraceTarget) {
        self.target = target
    }

    /// Whether the server has said the trace is in place.
    public var started: Bool { id != nil }

    /// Takes one message of the trace's stream.
    public mutating func receive(_ message: TraceMessage) {
        switch message {
        case .started(let trace, _):
            id = trace
        case .line(_, let line):
            received += 1
            lines.append(line)
            // Trim in chunks, so a busy trace does not shift the array on every line.
            if lines.count > Self.capacity + Self.capacity / 4 { lines.removeFirst(lines.count - Self.capacity) }
        case .skipped(_, let count):
            skipped += count
        case .ended(_, let reason):
            ended = reason
        }
    }

    /// The lines the pane shows, oldest first: those received before a pause, matching the filter.
    public var shown: [TraceLine] {
        var visible = lines[...]
        if let pausedAt {
            // `received - lines.count` lines were let go before the first kept one.
            let kept = max(0, pausedAt - (received - lines.count))
            visible = visible.prefix(kept)
        }
        guard !filter.isEmpty else { return Array(visible) }
        let wanted = filter.lowercased()
        return visible.filter { Self.text(of: $0).lowercased().contains(wanted) }
    }

    /// A line as the filter reads it: direction, kind and ``SwitchboardCore/TraceLine/details``.
    public static func text(of line: TraceLine) -> String {
        [line.direction?.rawValue, line.kind.rawValue, line.details].compactMap(\.self).joined(separator: " ")
    }
}

extension ViewState {
    /// Opens the trace pane on `target` (replacing any open one) and gives it the focus.
    public mutating func openTrace(_ target: TraceTarget) {
        trace = TracePane(target: target)
        selection[.trace] = 0
        scroll[.trace] = 0
        focus = .trace
        status = "tracing \(target.description)… (Esc stops)"
    }

    /// Closes the trace pane.
    public mutating func closeTrace() {
        trace = nil
        if focus == .trace { focus = .clients }
    }

    /// Takes one message of the open trace's stream. A trace that ends before it started was
    /// refused (too many traces, no such client, not allowed): the pane closes and the status
    /// line says why.
    public mutating func receive(_ message: TraceMessage) {
        guard var pane = trace else { return }
        if case .ended(_, let reason) = message, !pane.started {
            closeTrace()
            status = "trace \(pane.target.description) refused: \(reason)"
            return
        }
        pane.receive(message)
        if case .ended(_, let reason) = message { status = "trace ended: \(reason)" }
        trace = pane
    }
}
