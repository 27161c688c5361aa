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

    /// Traces are not wired into the in-process console yet (the hub's trace registry lands
    /// next): the pane says so at once.
    public func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage> {
        AsyncStream { refused in
            refused.yield(.ended(trace: "", reason: "the local console cannot trace yet; attach to the server to trace"))
            refused.finish()
        }
    }
}
