public import SwitchboardCore
public import SwitchboardServer

/// The in-process source: reads the metrics collector, hands commands and traces to the hub directly.
public struct LocalSource: DashboardSource {
    let hub: Hub
    let collector: MetricsCollector

    public init(hub: Hub, collector: MetricsCollector) {
        self.hub = hub
        self.collector = collector
    }

    public func snapshot(query: ClientQuery) async -> DashboardSnapshot? {
        await collector.snapshot(query: query)
    }

    public func perform(_ command: OperatorCommand) async -> OperatorResult {
        await hub.perform(command)
    }

    /// Follows `target` through the hub's trace registry (on every node of a cluster), as the
    /// console in this process; a refusal (`max-traces`) ends the stream before it starts.
    public func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage> {
        do {
            return try hub.trace(target, reader: "local console")
        } catch {
            return AsyncStream { refused in
                refused.yield(.ended(trace: "", reason: error.message))
                refused.finish()
            }
        }
    }
}
