public import SwitchboardCore

/// The panes that take focus, in Tab order.
public enum Pane: CaseIterable, Sendable {
    case clients, actors, channels, events
    /// The open trace (shown in place of actors, channels and events while a trace runs).
    case trace
}

/// What a prompt on the bottom line is asking for.
public enum PromptKind: Sendable, Equatable {
    /// Text to broadcast; a leading `#channel ` sends to that channel only.
    case broadcast
    /// The close reason for kicking a client (then a confirmation).
    case kickReason(clientID: String)
    /// The close reason for closing every connection of a user (then a confirmation).
    case kickUserReason(user: String)
    /// A `:` command line.
    case command
    /// The client filter (applied on Enter).
    case filter
    /// The open trace's filter (applied on Enter).
    case traceFilter
}

/// An open prompt and what has been typed so far.
public struct Prompt: Sendable, Equatable {
    public var kind: PromptKind
    public var text: String

    public init(kind: PromptKind, text: String = "") {
        self.kind = kind
        self.text = text
    }
}

/// A yes/no question before something that cannot be undone.
public enum Confirm: Sendable, Equatable {
    /// Quit the local console, stopping the server.
    case quit
    /// Kick a client with a close reason.
    case kick(clientID: String, reason: String)
    /// Close every connection of a user, on every node, with a close reason.
    case kickUser(user: String, reason: String)
}

/// What covers the dashboard.
public enum Overlay: Sendable, Equatable {
    case help
    case detail(clientID: String)
    case prompt(Prompt)
    case confirm(Confirm)
}

/// Everything about the console that is not in the snapshot: focus, selection, sort, filter,
/// overlays. Changed only by ``handle(_:state:snapshot:)``; read by ``renderDashboard(_:_:rows:cols:)``.
public struct ViewState: Sendable {
    public var focus: Pane = .clients
    /// Selected row per pane. Clients: absolute index in the sorted, filtered list. Actors and
    /// channels: index in the snapshot's list. Events: distance from the newest (0 = newest).
    public var selection: [Pane: Int] = [:]
    /// First visible row per pane (for events: rows hidden below the bottom of the pane).
    public var scroll: [Pane: Int] = [:]
    public var sort: ClientQuery.SortKey = .id
    public var descending = false
    /// Case-insensitive substring of id, remote address, user agent or channel.
    public var filter = ""
    /// Only clients subscribed to this channel (Enter on a channel); Esc clears it.
    public var channel: String?
    /// Keep showing the last snapshot.
    public var paused = false
    public var overlay: Overlay?
    /// The open trace, if any, with the lines received so far.
    public var trace: TracePane?
    /// A one-line message on the bottom line (result of the last command, or an error).
    public var status = ""
    /// ASCII glyphs only: no box drawing, blocks or braille; other characters shown as `?`.
    public var ascii = false
    /// The console runs inside the server: quitting asks whether to stop it.
    public var local = false
    public var themeName = "default"
    /// Terminal size at the last frame; used to size pages for PgUp/PgDn and scrolling.
    /// Set it when rendering (defaults to 80×24).
    /// How many nodes the last snapshot listed (0: not clustered), for the layout.
    public var clusterNodes = 0
    /// How many Redis Cluster masters its nodes listed, added up (the nodes pane's rows under
    /// the nodes'), for the layout.
    public var clusterShards = 0
    public var screenRows = 24
    public var screenCols = 80
    /// Wall-clock seconds since 1970 for ages and idle times; `nil` estimates it from the
    /// snapshot (the latest activity or event it contains).
    public var now: Double?
    /// A replay of a recording (nil: live): where it is, for the header; its keys win over the
    /// live meanings of Space, `←` `→`, `g` `G`, and operator actions are refused.
    public var replay: ReplayStatus?

    public init() {}

    /// The selected row of `pane` (0 if none was chosen).
    public func selected(_ pane: Pane) -> Int {
        max(0, selection[pane] ?? 0)
    }

    /// The window of clients to ask the server for: `visibleRows` rows (more is fine) starting
    /// at the scroll offset, moved so that the selected client is inside it.
    public func clientQuery(visibleRows: Int) -> ClientQuery {
        let page = max(1, visibleRows)
        let selected = self.selected(.clients)
        var offset = scroll[.clients] ?? 0
        offset = min(offset, selected)
        offset = max(offset, selected - page + 1)
        return ClientQuery(sort: sort, descending: descending, filter: filter, channel: channel, offset: max(0, offset), limit: page)
    }

    /// How many client rows the table shows at this terminal size (a good `visibleRows`).
    public static func clientTableRows(rows: Int, cols: Int, nodes: Int = 0, shards: Int = 0, tracing: Bool = false) -> Int {
        max(1, Layout(rows: rows, cols: cols, nodes: nodes, shards: shards, tracing: tracing).bodyRows(.clients))
    }

    /// Sizes the nodes pane for a snapshot's `nodes` (``clusterNodes``, ``clusterShards``).
    public mutating func fitNodesPane(to nodes: [NodeRow]?) {
        clusterNodes = nodes?.count ?? 0
        clusterShards = nodes?.shardRows ?? 0
    }

    /// The layout at the last known screen size.
    var layout: Layout {
        Layout(rows: screenRows, cols: screenCols, nodes: clusterNodes, shards: clusterShards, tracing: trace != nil)
    }
}

extension ViewState {
    /// The window and the selection after turning `pages` pages (negative: back) of a list of
    /// `total` rows shown `rows` at a time: the window moves by whole pages, clamped to the list,
    /// and the selection keeps its place in the window; when the window cannot move further the
    /// selection goes to the first or last row.
    public static func turnPage(by pages: Int, rows: Int, total: Int, scroll: Int, selected: Int) -> (scroll: Int, selected: Int) {
        guard total > 0, rows > 0 else { return (0, 0) }
        let last = total - 1
        let lastScroll = max(0, total - rows)
        let start = min(max(0, scroll), lastScroll)
        let place = min(max(0, selected - start), rows - 1)
        let moved = min(max(0, start + pages * rows), lastScroll)
        if moved == start {
            // Already at the end the page key points to.
            return (start, pages > 0 ? last : 0)
        }
        return (moved, min(last, moved + place))
    }
}

extension ViewState {
    /// Keeps the clients selection on the same client when a new snapshot reorders the rows
    /// (a live sort by rate or mailbox): the selection follows the client that was selected in
    /// `previous` (made for `previousQuery`); when that client is no longer in the window, the
    /// status line says so. Nothing to follow when `previous` listed the clients in another
    /// order than this view's (a sort, a filter or a channel was just chosen: the selection
    /// stays where that key put it).
    public mutating func followSelectedClient(from previous: DashboardSnapshot?, madeFor previousQuery: ClientQuery?, to next: DashboardSnapshot) {
        guard let previousQuery, listsClients(inTheOrderOf: previousQuery) else { return }
        guard let id = selectedClient(self, previous)?.id else { return }
        if let index = next.clients.rows.firstIndex(where: { $0.id == id }) {
            selection[.clients] = next.clients.offset + index
        } else if selectedClient(self, next)?.id != id {
            status = "\(id) is no longer on screen (it moved in the sort by \(sort.rawValue), or left)"
        }
    }
}

extension ViewState {
    /// Whether a window made for `query` lists the clients this view shows in the view's order:
    /// the same sort, direction, filter and channel (the window itself may differ).
    public func listsClients(inTheOrderOf query: ClientQuery) -> Bool {
        query.sort == sort && query.descending == descending && query.filter == filter && query.channel == channel
    }
}
