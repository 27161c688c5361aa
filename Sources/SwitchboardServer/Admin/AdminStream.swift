import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import SwitchboardCore

/// `GET /admin/stream`: the WebSocket a remote console attaches through (token required).
///
/// The server pushes `{"type":"snapshot","query":{…},"snapshot":{…}}` every `interval_ms` with the
/// rows the reader's view asks for (`query` is the view it was made for; a `view` command is
/// answered with one at once), and `{"type":"event","event":{…}}` as events happen. The reader sends
/// commands, each answered `{"type":"result","id":…,"ok":…}`:
///
/// - `{"type":"view","interval_ms":1000,"query":{"sort":"mailbox","descending":true,"filter":"","offset":0,"limit":50}}`
/// - `{"type":"broadcast","data":…}` or with `"channel":"…"`
/// - `{"type":"publish","channel":"…","data":…}`
/// - `{"type":"kick","client":"c1","reason":"…"}`, `{"type":"kick","all":true,"reconnect":true}`,
///   `{"type":"kick","channel":"…"}`
///
/// Its outbound side is bounded: while the socket cannot take more, snapshots and events are
/// skipped and counted as dropped in the stream's mailbox gauge, never queued without limit.
final class AdminStreamSession: AdminWebSocket, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = ByteBuffer

    /// What the reader wants to see.
    struct View: Sendable {
        var interval = Duration.seconds(1)
        var query = ClientQuery()
    }

    let hub: Hub
    let collector: MetricsCollector
    let snapshots: SharedSnapshot
    let gauge: MailboxGauge
    private let view = NIOLockedValueBox(View())
    private let counts = NIOLockedValueBox(MailboxCounts())
    var context: ChannelHandlerContext?
    private var pump: Task<Void, Never>?
    var closing = false
    /// Commands in arrival order, performed one at a time (bounded: a flood is refused).
    private let commands: AsyncStream<[UInt8]>
    private let commandSink: AsyncStream<[UInt8]>.Continuation

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    init(hub: Hub, snapshots: SharedSnapshot, name: String) {
        self.hub = hub
        self.collector = snapshots.collector
        self.snapshots = snapshots
        self.gauge = MailboxGauge(kind: .adminStream, name: name, capacity: 1)
        (commands, commandSink) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingOldest(64))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        hub.register(gauge)
        pump = Task { [weak self] in await self?.runPump() }
    }

    func stop() {
        commandSink.finish()
        pump?.cancel()
        pump = nil
        hub.unregister(gauge)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closing else {
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        switch frame.opcode {
        case .text where frame.fin:
            let text = frame.unmaskedData
            let bytes = Array(text.readableBytesView)
            guard UTF8Validation.isValid(bytes) else { return closeStream(code: .invalidPayload, reason: "invalid UTF-8") }
            if case .dropped = commandSink.yield(bytes) {
                reply(id: nil, result: .failed(OperatorFailure(.overloaded, "too many commands in flight")))
            }
        case .ping:
            write(WireFrame.make(.pong, payload: frame.unmaskedData.readableBytesView, allocator: context.channel.allocator), force: true)
        case .connectionClose:
            closing = true
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? CloseCode.normal.rawValue
            let reply = WireFrame.close(code: code, reason: "", allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { [weak self] _ in self?.context?.close(promise: nil) }
        case .pong:
            break
        default:
            closeStream(code: .unsupportedData, reason: "admin commands are single JSON text frames")
        }
    }

    // MARK: - Outbound

    /// Writes a frame from any thread; skipped (and counted) while the socket cannot take more.
    private func send(_ frame: ByteBuffer) {
        guard let loop = context?.eventLoop else { return }
        loop.execute { self.write(frame, force: false) }
    }

    private func write(_ frame: ByteBuffer, force: Bool) {
        guard let context, !closing else { return }
        let accepted = force || context.channel.isWritable
        counts.withLockedValue { counts in
            counts.enqueued += 1
            if accepted { counts.dequeued += 1 } else { counts.dropped += 1 }
            gauge.publish(counts)
        }
        guard accepted else { return }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    private func textFrame(_ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = WireFrame.begin(allocator: hub.allocator, payloadCapacity: 512)
        body(&buffer)
        WireFrame.finish(&buffer, opcode: .text)
        return buffer
    }

    private func runPump() async {
        let (subscription, events) = await collector.subscribe()
        let collector = self.collector
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await command in self.commands { await self.perform(command) }
            }
            group.addTask {
                for await event in events {
                    guard let data = try? AdminAPI.encoder.encode(event) else { continue }
                    self.send(
                        self.textFrame {
                            $0.writeStaticString("{\"type\":\"event\",\"event\":")
                            $0.writeBytes(data)
                            $0.writeStaticString("}")
                        })
                }
            }
            // The snapshot pump is supervised: if it fails it restarts with backoff, and the
            // restart is counted on this stream's actor row and shown in the event log.
            group.addTask {
                let supervisor = Supervisor { child, error, _ in
                    Task { await collector.recordRestart(of: child, error: "\(error)") }
                }
                await supervisor.run([Supervisor.Child(name: self.gauge.name) { try await self.pushSnapshots() }])
            }
        }
        await collector.unsubscribe(subscription)
    }

    /// Sends a snapshot of the reader's view every interval until cancelled, on the interval's
    /// beat: streams with one interval ask together, so one pass over the clients serves them all
    /// (see ``ClientOrderCache``).
    private func pushSnapshots() async throws {
        while !Task.isCancelled {
            try await pushSnapshot()
            try? await Task.sleep(for: Self.delay(toNextBeatOf: view.withLockedValue { $0.interval }))
        }
    }

    /// The time from `now` (monotonic nanoseconds) to the next multiple of `interval` that is at
    /// least half an interval away (a snapshot just sent is not followed by another at once).
    static func delay(toNextBeatOf interval: Duration, now: UInt64 = NIODeadline.now().uptimeNanoseconds) -> Duration {
        let period = UInt64(max(1, TimeAmount(interval).nanoseconds))
        let untilBeat = period - now % period
        return .nanoseconds(Int64(untilBeat < period / 2 ? untilBeat + period : untilBeat))
    }

    /// Sends one snapshot with the rows the reader's view asks for: its window, in the part
    /// every stream shares (``SharedSnapshot``).
    private func pushSnapshot() async throws {
        let query = view.withLockedValue { $0.query }
        let window = await collector.clients(query)
        var snapshot = ByteBuffer()
        try await snapshots.encoded(around: window, into: &snapshot)
        let queryData = try AdminAPI.encoder.encode(query)
        send(
            textFrame {
                $0.writeStaticString("{\"type\":\"snapshot\",\"query\":")
                $0.writeBytes(queryData)
                $0.writeStaticString(",\"snapshot\":")
                $0.writeBuffer(&snapshot)
                $0.writeStaticString("}")
            })
    }

    // MARK: - Commands

    private func perform(_ bytes: [UInt8]) async {
        let object: JSONObject
        do {
            object = try JSONObject(parsing: bytes)
        } catch {
            return reply(id: nil, result: .failed(OperatorFailure(.invalidJSON, "not a JSON object: \(error)")))
        }
        let id = object.raw("id").map { String(decoding: $0, as: UTF8.self) }
        switch object.string("type") {
        case "view":
            if let interval = object.int("interval_ms") {
                let clamped = min(max(interval, 100), 60_000)
                view.withLockedValue { $0.interval = .milliseconds(clamped) }
            }
            if let raw = object.raw("query") {
                guard var query = try? Self.decoder.decode(ClientQuery.self, from: Data(raw)) else {
                    return reply(
                        id: id, result: .failed(OperatorFailure(.badRequest, "query: expected {sort, descending, filter, channel, offset, limit}")))
                }
                query.limit = min(query.limit, ClientQuery.mostRowsPerWindow)
                view.withLockedValue { $0.query = query }
            }
            reply(id: id, ok: true, fields: nil)
            // The reader's view changed: its new window goes out now, not at the next interval.
            try? await pushSnapshot()
        case let type?:
            let command: OperatorCommand
            do {
                command = try OperatorCommand(type: type, object)
            } catch {
                return reply(id: id, result: .failed(error))
            }
            reply(id: id, result: await hub.perform(command))
        case nil:
            reply(id: id, result: .failed(OperatorFailure(.unknownCommand, "a command needs a \"type\": view, broadcast, publish or kick")))
        }
    }

    /// Answers a command with what the hub did: `"ok":true` and the result's members, or
    /// `"ok":false` with `"error"` and `"code"`.
    private func reply(id: String?, result: OperatorResult) {
        if case .failed = result { return reply(id: id, ok: false, fields: result.jsonMembers) }
        reply(id: id, ok: true, fields: result.jsonMembers)
    }

    /// Writes a `result`; failures go through ``reply(id:result:)``, so every one has a `"code"`.
    private func reply(id: String?, ok: Bool, fields: String?) {
        var text = "{\"type\":\"result\",\"ok\":\(ok)"
        if let id { text += ",\"id\":\(id)" }
        if let fields { text += "," + fields }
        text += "}"
        send(textFrame { $0.writeString(text) })
    }
}
