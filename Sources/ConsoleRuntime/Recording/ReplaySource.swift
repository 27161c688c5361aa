public import ConsoleModel
import Synchronization
public import SwitchboardCore

/// A recording as a source: the console asks it for snapshots as it would ask a server, and
/// gets the one recorded at the replay's moment, which moves on in real time from where it
/// starts (``move(_:)`` pauses, steps and jumps). Operator commands are refused.
public final class ReplaySource: DashboardSource {
    public let recording: Recording
    /// Where the replay is, and the wall-clock time it was last moved on.
    private let cursor: Mutex<(cursor: ReplayCursor, wall: Double)>
    /// The last snapshot decoded, by beat and query: a paused replay does not decode it again.
    private let decoded = Mutex<(beat: Int, query: ClientQuery, snapshot: DashboardSnapshot?)?>(nil)

    /// Starts at `time` (default: the first beat), playing or paused.
    public init(recording: Recording, at time: Double? = nil, playing: Bool = true) {
        self.recording = recording
        self.cursor = Mutex((ReplayCursor(times: recording.beatTimes, at: time, playing: playing), WallClock.now()))
    }

    /// Where the replay is now.
    public var status: ReplayStatus { advanced().status }

    /// Applies an operator's move and says where the replay is after it.
    @discardableResult
    public func move(_ move: ReplayMove) -> ReplayStatus {
        cursor.withLock { state in
            Self.moveOn(&state)
            state.cursor.perform(move)
            return state.cursor.status
        }
    }

    /// The snapshot recorded at the replay's moment. Its client rows are those the recorded
    /// console had; a `query` with another sort or filter sorts and filters those.
    public func snapshot(query: ClientQuery) async -> DashboardSnapshot? {
        guard let beat = advanced().beat else { return nil }
        return decoded.withLock { cache in
            if let cache, cache.beat == beat, cache.query == query { return cache.snapshot }
            let snapshot = recording.snapshot(beat, for: query)
            cache = (beat, query, snapshot)
            return snapshot
        }
    }

    public func perform(_ command: OperatorCommand) async -> OperatorResult {
        .failed(OperatorFailure(.unavailable, replayRefusal))
    }

    /// The trace messages recorded up to the replay's moment.
    public func traces(through time: Double) -> ArraySlice<Recording.RecordedTrace> {
        let end = recording.traces.firstIndex(where: { $0.time > time }) ?? recording.traces.endIndex
        return recording.traces[..<end]
    }

    /// The recorded trace messages of `target` (all of them when the recording never says which
    /// trace followed it) as the replay passes them: those up to its moment at once, then each
    /// as playing reaches it. A jump back does not send them again. Ends when cancelled.
    public func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage> {
        let ids = Set(
            recording.traces.compactMap { recorded -> String? in
                guard case .started(let trace, let started) = recorded.message, started == target else { return nil }
                return trace
            })
        let messages = recording.traces.filter { ids.isEmpty || ids.contains($0.message.trace) }
        return AsyncStream { continuation in
            let task = Task {
                var next = 0
                while !Task.isCancelled && next < messages.count {
                    let now = advanced().position
                    while next < messages.count && messages[next].time <= now {
                        continuation.yield(messages[next].message)
                        next += 1
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The cursor moved on by the wall-clock time since it last was.
    private func advanced() -> ReplayCursor {
        cursor.withLock { state in
            Self.moveOn(&state)
            return state.cursor
        }
    }

    /// Moves the cursor on by the wall-clock time since it last was.
    private static func moveOn(_ state: inout (cursor: ReplayCursor, wall: Double)) {
        let now = WallClock.now()
        state.cursor.advance(by: now - state.wall)
        state.wall = now
    }
}
