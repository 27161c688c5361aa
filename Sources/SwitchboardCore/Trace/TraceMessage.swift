/// One object of a trace stream, as the admin API, the CLI's `--json` and recordings carry it,
/// one per line:
///
/// ```json
/// {"type":"trace_started","trace":"t3","target":{"client":"c1@node-b"}}
/// {"type":"trace","trace":"t3","t":"2026-12-07T04:12:03.123456Z","node":"node-b","client":"c1@node-b","dir":"out","kind":"delivery",…}
/// {"type":"trace_skipped","trace":"t3","count":1234}
/// {"type":"trace_ended","trace":"t3","reason":"reader gone"}
/// ```
public enum TraceMessage: Sendable, Equatable {
    /// The trace is in place on every node that answered: what follows is complete.
    case started(trace: String, target: TraceTarget)
    case line(trace: String, TraceLine)
    /// Lines left out because the trace went over `trace-rate` (or its reader fell behind).
    case skipped(trace: String, count: Int)
    case ended(trace: String, reason: String)

    /// The trace's id (`t3`).
    public var trace: String {
        switch self {
        case .started(let trace, _), .line(let trace, _), .skipped(let trace, _), .ended(let trace, _): trace
        }
    }

    /// The object as one line of compact JSON (no newline).
    public var json: String {
        switch self {
        case .started(let trace, let target):
            "{\"type\":\"trace_started\",\"trace\":\(JSONText.quoted(trace)),\"target\":\(target.json)}"
        case .line(let trace, let line):
            "{\"type\":\"trace\",\"trace\":\(JSONText.quoted(trace)),\(line.jsonMembers())}"
        case .skipped(let trace, let count):
            "{\"type\":\"trace_skipped\",\"trace\":\(JSONText.quoted(trace)),\"count\":\(count)}"
        case .ended(let trace, let reason):
            "{\"type\":\"trace_ended\",\"trace\":\(JSONText.quoted(trace)),\"reason\":\(JSONText.quoted(reason))}"
        }
    }

    /// The message in `text` (one line as ``json`` writes it); nil when it is not one.
    public init?(json text: some Collection<UInt8>) {
        guard let object = try? JSONObject(parsing: Array(text)), let trace = object.string("trace") else { return nil }
        switch object.string("type") {
        case "trace_started":
            guard let raw = object.raw("target"), let target = (try? JSONObject(parsing: Array(raw))).flatMap(TraceTarget.init(json:)) else {
                return nil
            }
            self = .started(trace: trace, target: target)
        case "trace":
            guard let line = TraceLine(json: object) else { return nil }
            self = .line(trace: trace, line)
        case "trace_skipped":
            self = .skipped(trace: trace, count: object.int("count") ?? 0)
        case "trace_ended":
            self = .ended(trace: trace, reason: object.string("reason") ?? "")
        default:
            return nil
        }
    }
}
