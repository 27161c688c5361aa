public import SwitchboardCore

/// Where the console's data comes from and where its commands go: the hub in this process
/// (``LocalSource``) or a remote server's admin stream (``RemoteSource``). The console itself
/// does not know which.
public protocol DashboardSource: Sendable {
    /// The latest snapshot with the rows `query` asks for (nil while not connected).
    func snapshot(query: ClientQuery) async -> DashboardSnapshot?
    /// Has the hub perform an operator command and returns what it did.
    func perform(_ command: OperatorCommand) async -> OperatorResult
    /// Follows `target` live: `.started` once the trace is in place, then its lines, and
    /// `.ended` last. A refused trace ends before it starts, saying why. Ending the iteration
    /// ends the trace.
    func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage>
}
