import NIOConcurrencyHelpers
import NIOCore
public import SwitchboardCore

/// Traces, as the admin API, the CLI and the in-process console start them.
extension Hub {
    /// Starts a trace of `target` and returns its stream: first
    /// ``TraceMessage/started(trace:target:)`` once every shard's tap is in place (clustered:
    /// and the other nodes answered, or 2 s passed; their lines come here too), then
    /// ``TraceMessage/line(trace:_:)`` and ``TraceMessage/skipped(trace:count:)`` as they come,
    /// last ``TraceMessage/ended(trace:reason:)`` (`timeout` after `trace-timeout`, `server
    /// shutting down` at shutdown), after which the stream finishes.
    ///
    /// Cancelling the task that reads the stream, or dropping the stream, ends the trace
    /// (`reader gone`); merely breaking out of a `for await` loop does not, while the stream is
    /// still held. Lines beyond `trace-rate` per second, or while the reader is more than
    /// ``TraceSink/capacity`` messages (or 4 MiB of data) behind, are skipped and counted, never
    /// queued without bound; the traced clients never wait for the reader. Starting and stopping are events
    /// (`trace_started`, `trace_stopped`) naming the target and `reader`.
    ///
    /// - Parameters:
    ///   - target: the client, user or channel to follow.
    ///   - reader: who reads it, for the event log: a remote address, or e.g. `console`.
    /// - Throws: ``TraceRefusal`` `too_many_traces` when `max-traces` traces already run.
    public func trace(_ target: TraceTarget, reader: String) throws(TraceRefusal) -> AsyncStream<TraceMessage> {
        let reading = try startTrace(target, reader: reader)
        return AsyncStream(unfolding: { await reading.sink.next() }, onCancel: { reading.cancel() })
    }

    /// Starts a trace as ``trace(_:reader:)`` does, for a reader in the server that takes the
    /// sink's messages in batches: the trace lasts while the returned reading is held and not
    /// cancelled.
    func startTrace(_ target: TraceTarget, reader: String) throws(TraceRefusal) -> TraceReading {
        let configuration = self.configuration
        let node = engine.nodeName ?? "local"
        let sink = try traces.admit { id in
            TraceSink(
                id: id, target: target, reader: reader, payloads: configuration.tracePayloads, node: node, rate: configuration.traceRate,
                timeout: configuration.traceTimeout)
        }
        reportTrace(.traceStarted, sink)
        // In place once this node's shards and the other nodes (clustered) have their taps.
        let ready = Countdown(2) { sink.start() }
        tapShards(with: sink, then: ready.done)
        engine.traceStarted(sink, ready: ready.done)
        let beat = shards[0].eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            if sink.beat(now: NIODeadline.now().uptimeNanoseconds) { self?.stopTrace(sink, reason: "timeout") }
        }
        sink.keep(beat: beat)
        return TraceReading(hub: self, sink: sink)
    }

    /// Traces running on this node now.
    public var runningTraces: Int { traces.count }

    /// Ends a trace (once): its taps come off every shard and its reader gets `trace_ended`.
    func stopTrace(_ sink: TraceSink, reason: String) {
        guard traces.remove(sink) else { return }
        sink.end(reason: reason)
        untapShards(sink)
        engine.traceStopped(sink)
        reportTrace(.traceStopped, sink, reason: reason)
    }

    /// Puts `sink`'s taps on every shard; `then` runs once all of them are in place.
    func tapShards(with sink: TraceSink, then: @escaping @Sendable () -> Void) {
        let installed = Countdown(shards.count, then: then)
        for shard in shards {
            shard.send(
                .run {
                    shard.install(sink)
                    installed.done()
                })
        }
    }

    /// Takes `sink`'s taps off every shard.
    func untapShards(_ sink: TraceSink) {
        for shard in shards { shard.send(.run { shard.remove(sink) }) }
    }

    /// Ends every trace (shutdown).
    func stopAllTraces(reason: String) {
        for sink in traces.all { stopTrace(sink, reason: reason) }
    }

    private func reportTrace(_ kind: HubEvent.Kind, _ sink: TraceSink, reason: String? = nil) {
        let client: String? = if case .client(let id) = sink.target { id } else { nil }
        var detail = "\(sink.id): \(sink.target.description) by \(sink.reader)"
        if let reason { detail += " (\(reason))" }
        events?.send(HubEvent(time: WallClock.now(), kind: kind, client: client, detail: detail))
    }
}

/// Runs `then` once ``done()`` was called `count` times, from any thread.
private final class Countdown: Sendable {
    private let left: NIOLockedValueBox<Int>
    private let then: @Sendable () -> Void

    init(_ count: Int, then: @escaping @Sendable () -> Void) {
        self.left = NIOLockedValueBox(count)
        self.then = then
    }

    @Sendable func done() {
        let last = left.withLockedValue { left in
            left -= 1
            return left == 0
        }
        if last { then() }
    }
}

/// What a trace's reader holds on to: when it goes (the reader dropped its stream) or is
/// cancelled, the trace ends with `reader gone`.
final class TraceReading: Sendable {
    let hub: Hub
    let sink: TraceSink

    init(hub: Hub, sink: TraceSink) {
        self.hub = hub
        self.sink = sink
    }

    /// The reader stopped: the trace ends and a waiting ``TraceSink/next()`` returns nil.
    func cancel() {
        hub.stopTrace(sink, reason: "reader gone")
        sink.readerCancelled()
    }

    deinit {
        hub.stopTrace(sink, reason: "reader gone")
    }
}
