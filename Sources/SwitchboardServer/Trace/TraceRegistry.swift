import NIOConcurrencyHelpers
public import SwitchboardCore

/// Why a trace could not start.
public struct TraceRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// `too_many_traces`: `max-traces` traces already run on this node.
    public let code: String
    public let message: String

    /// `max-traces` traces already run on this node.
    static func tooManyTraces(limit: Int) -> TraceRefusal {
        TraceRefusal(code: "too_many_traces", message: "too many traces running on the server (max-traces \(limit))")
    }

    public var description: String { message }
}

/// The traces running on this node: at most `max-traces`, each known by its id (`t1`, `t2`, …).
/// The slots live here; installing a trace's taps on the shards is ``Hub/trace(_:reader:)``'s job.
final class TraceRegistry: Sendable {
    /// `max-traces`.
    let limit: Int
    private struct State: Sendable {
        var running: [String: TraceSink] = [:]
        var lastNumber = 0
    }
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Traces running now.
    var count: Int { state.withLockedValue { $0.running.count } }

    /// Takes a slot for a new trace made by `make` from its id; refused when every slot is taken.
    func admit(_ make: (String) -> TraceSink) throws(TraceRefusal) -> TraceSink {
        let sink = state.withLockedValue { state -> TraceSink? in
            guard state.running.count < limit else { return nil }
            state.lastNumber += 1
            let sink = make("t\(state.lastNumber)")
            state.running[sink.id] = sink
            return sink
        }
        guard let sink else { throw .tooManyTraces(limit: limit) }
        return sink
    }

    /// Frees the trace's slot; false when it was already freed (a trace ends once).
    func remove(_ sink: TraceSink) -> Bool {
        state.withLockedValue { $0.running.removeValue(forKey: sink.id) != nil }
    }

    /// Every running trace (to end them at shutdown).
    var all: [TraceSink] { state.withLockedValue { Array($0.running.values) } }
}
