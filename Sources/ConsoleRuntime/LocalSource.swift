public import SwitchboardCore
public import SwitchboardServer

/// The in-process source: reads the metrics collector, hands commands to the hub directly.
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
}
