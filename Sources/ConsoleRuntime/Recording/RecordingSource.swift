public import SwitchboardCore

/// Any source, recorded: every snapshot and trace message the console receives through it is
/// handed to the recorder on the way (which never makes the console wait); commands pass
/// straight through.
public struct RecordingSource: DashboardSource {
    public let source: any DashboardSource
    public let recorder: SessionRecorder

    public init(recording source: any DashboardSource, to recorder: SessionRecorder) {
        self.source = source
        self.recorder = recorder
    }

    public func snapshot(query: ClientQuery) async -> DashboardSnapshot? {
        let snapshot = await source.snapshot(query: query)
        if let snapshot { recorder.record(snapshot: snapshot, query: query) }
        return snapshot
    }

    public func perform(_ command: OperatorCommand) async -> OperatorResult {
        await source.perform(command)
    }

    /// The source's trace of `target`, recorded.
    public func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage> {
        recorded(source.trace(target))
    }

    /// `messages` (a trace stream the console reads), each recorded as it passes; cancelling
    /// the result cancels the reading of `messages`.
    public func recorded(_ messages: AsyncStream<TraceMessage>) -> AsyncStream<TraceMessage> {
        let recorder = self.recorder
        return AsyncStream { continuation in
            let task = Task {
                for await message in messages {
                    recorder.record(trace: message)
                    continuation.yield(message)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
