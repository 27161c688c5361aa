import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import SwitchboardCore

/// Traces across the cluster, both sides of them.
///
/// - The asking node: a trace started here asks the other nodes (a ``NodeCommand/trace(_:)``
///   `start`; only the node a client id names, for a client) to tap its target, and is in place
///   once they answered or ``ClusterLink/askDeadline`` passed. Every ``renewEvery`` it tells them
///   which of its traces still run; their lines arrive on its own channel and go through the
///   trace's own sink (its rate and bound apply to them too).
/// - A tapped node: a tap for another node's trace is a ``TraceSink`` on this node's shards
///   whose lines go to the asking node in batches, one PUBLISH per batch of up to ``batchSize``,
///   each after the previous one was sent; it is bounded like any sink (lines past it are
///   counted and sent as `trace_skipped`). It ends when told, at its timeout, or when no renewal
///   came for ``forgetAfter`` (the asking node is gone).
final class ClusterTraces: @unchecked Sendable {
    /// What begins a batch of trace lines on a node's own channel (then one JSON object a line).
    static let linesHead = "T\n"
    static let renewEvery = TimeAmount.seconds(5)
    static let forgetAfter = TimeAmount.seconds(20)
    static let batchSize = 256

    private let link: ClusterLink
    private weak var hub: Hub?
    /// This node's traces that asked the others, by id.
    private let asked = NIOLockedValueBox<[String: TraceSink]>([:])
    /// Taps for other nodes' traces, by asking node and trace id.
    private let tapped = NIOLockedValueBox<[String: Tap]>([:])
    private let beat = NIOLockedValueBox<RepeatedTask?>(nil)

    private struct Tap: Sendable {
        let sink: TraceSink
        var renewedAt: UInt64
    }

    init(link: ClusterLink) {
        self.link = link
    }

    /// Begins receiving lines and renewing and forgetting traces.
    func start(hub: Hub) {
        self.hub = hub
        link.onTraceLines { [weak self] payload in self?.receive(payload) }
        let task = link.eventLoop.scheduleRepeatedTask(initialDelay: Self.renewEvery, delay: Self.renewEvery) { [weak self] _ in
            self?.renewAndForget()
        }
        beat.withLockedValue { $0 = task }
    }

    /// Ends every tap for other nodes (shutdown).
    func stop() {
        beat.withLockedValue { $0?.cancel() }
        let taps = tapped.withLockedValue { taps in
            defer { taps.removeAll() }
            return Array(taps.values)
        }
        for tap in taps { end(tap.sink) }
    }

    // MARK: - The asking node

    /// Asks the other nodes to tap `sink`'s target; `ready` once they answered.
    func started(_ sink: TraceSink, ready: @escaping @Sendable () -> Void) {
        asked.withLockedValue { $0[sink.id] = sink }
        let request = NodeCommand.TraceRequest(
            action: .start, node: link.nodeName, traces: [sink.id], kind: sink.target.kind, value: sink.target.value)
        var nodes: [String]?
        if case .client(let id) = sink.target, let node = Hub.node(ofClient: id) { nodes = node == link.nodeName ? [] : [node] }
        let link = self.link
        Task {
            _ = try? await link.ask(.trace(request), of: nodes)
            ready()
        }
    }

    /// Tells the other nodes to take `sink`'s taps off.
    func stopped(_ sink: TraceSink) {
        guard asked.withLockedValue({ $0.removeValue(forKey: sink.id) }) != nil else { return }
        link.tell(.trace(NodeCommand.TraceRequest(action: .stop, node: link.nodeName, traces: [sink.id])))
    }

    /// A batch of another node's lines for one of this node's traces.
    private func receive(_ payload: ByteBuffer) {
        let lines = payload.readableBytesView.dropFirst(Self.linesHead.utf8.count).split(separator: UInt8(ascii: "\n"))
        for text in lines {
            guard let message = TraceMessage(json: text), let sink = asked.withLockedValue({ $0[message.trace] }) else { continue }
            switch message {
            case .line(_, let line): sink.offer { line }
            case .skipped(_, let count): sink.skip(count)
            case .started, .ended: break
            }
        }
    }

    /// Renews this node's asks; ends the taps whose asking node stopped renewing them, and
    /// the ones past their timeout; reports the taps' skipped lines.
    private func renewAndForget() {
        let ids = asked.withLockedValue { Array($0.keys) }
        if !ids.isEmpty { link.tell(.trace(NodeCommand.TraceRequest(action: .renew, node: link.nodeName, traces: ids))) }
        let now = NIODeadline.now().uptimeNanoseconds
        let forget = UInt64(Self.forgetAfter.nanoseconds)
        let ended = tapped.withLockedValue { taps in
            let gone = taps.filter { _, tap in (now > tap.renewedAt && now - tap.renewedAt > forget) || tap.sink.beat(now: now) }
            for key in gone.keys { taps.removeValue(forKey: key) }
            return Array(gone.values)
        }
        for tap in ended { end(tap.sink) }
    }

    // MARK: - A tapped node

    /// Carries out another node's trace request: 1 once a tap is in place, nil otherwise.
    func perform(_ request: NodeCommand.TraceRequest) async -> Int? {
        let now = NIODeadline.now().uptimeNanoseconds
        switch request.action {
        case .start:
            guard let hub, let trace = request.traces.first, let target = TraceTarget(kind: request.kind ?? "", value: request.value ?? "")
            else { return nil }
            let configuration = hub.configuration
            let sink = TraceSink(
                id: trace, target: target, reader: "node \(request.node)", payloads: configuration.tracePayloads, node: link.nodeName,
                rate: configuration.traceRate, timeout: configuration.traceTimeout)
            // Bounded like this node's own traces: a few per trace this node could run.
            let admitted = tapped.withLockedValue { taps in
                let key = Self.key(request.node, trace)
                guard taps[key] == nil, taps.count < 4 * configuration.maxTraces else { return false }
                taps[key] = Tap(sink: sink, renewedAt: now)
                return true
            }
            guard admitted else { return nil }
            await withCheckedContinuation { continuation in hub.tapShards(with: sink) { continuation.resume() } }
            sink.start()
            send(sink, to: request.node)
            return 1
        case .stop:
            let ended = tapped.withLockedValue { taps in request.traces.compactMap { taps.removeValue(forKey: Self.key(request.node, $0)) } }
            for tap in ended { end(tap.sink) }
        case .renew:
            tapped.withLockedValue { taps in
                for trace in request.traces { taps[Self.key(request.node, trace)]?.renewedAt = now }
            }
        }
        return nil
    }

    /// Sends the tap's lines to `node` as they come, a batch per PUBLISH, until the tap ends.
    private func send(_ sink: TraceSink, to node: String) {
        let link = self.link
        let channel = ByteBuffer(string: link.directName(node))
        Task {
            while let first = await sink.next() {
                let batch = ([first] + sink.take(upTo: Self.batchSize - 1)).filter { message in
                    switch message {
                    case .line, .skipped: true
                    case .started, .ended: false
                    }
                }
                guard !batch.isEmpty else { continue }
                let payload = ByteBuffer(string: Self.linesHead + batch.map(\.json).joined(separator: "\n"))
                _ = try? await link.connection.publish(channel, payload).get()
            }
        }
    }

    private func end(_ sink: TraceSink) {
        hub?.untapShards(sink)
        sink.end(reason: "stopped")
    }

    private static func key(_ node: String, _ trace: String) -> String { node + "\n" + trace }
}
