import SwitchboardCore
import SwitchboardServer

/// The bounds of live traces (`GET /admin/trace`, `switchboard trace`, the console's trace
/// pane), after `admin-token`.
extension Setting {
    static let traceSettings: [Setting] = [
        .integer(
            "max-traces",
            "Most traces (of a client, a user or a channel) running at once on this node; one more is refused with HTTP 429 too_many_traces",
            range: 1...1000, example: 4, \.server.hub.maxTraces),
        .rate(
            "trace-rate",
            "Most lines per second one trace sends its reader; beyond it lines are left out and a {\"type\":\"trace_skipped\",\"count\":n} says how many. 0 is no limit",
            example: "100", \.server.hub.traceRate),
        Setting(
            key: "trace-payloads", valueName: "mode",
            help:
                "How much of a traced message's data a trace line carries: none, truncated (the first \(TracePayloads.truncatedLimit) bytes, cut between characters, with \"truncated\":true) or full",
            example: "full", value: { $0.server.hub.tracePayloads.rawValue },
            apply: { configuration, value throws(SettingError) in
                guard let mode = TracePayloads(rawValue: try value.text(nonEmpty: true)) else {
                    throw SettingError(expected: "one of: " + TracePayloads.allCases.map(\.rawValue).joined(separator: ", "))
                }
                configuration.server.hub.tracePayloads = mode
            }),
        .seconds(
            "trace-timeout", "How long a trace runs before it ends by itself ({\"type\":\"trace_ended\",\"reason\":\"timeout\"})",
            example: "60", \.server.hub.traceTimeout),
    ]
}
