import NIOCore
import NIOWebSocket
import SwitchboardCore

/// `GET /admin/trace?client=…|user=…|channel=…` (admin token): one trace as a WebSocket of text
/// frames, each one ``TraceMessage``'s JSON: `trace_started`, then `trace` lines and
/// `trace_skipped` counts, last `trace_ended`, after which the server closes with 1000.
///
/// The trace was started at the handshake (a bad target is a 400, one trace over `max-traces`
/// a 429, before the upgrade). What is ready is written in one batch (up to ``batchSize``
/// frames, one flush), each after the previous one was flushed: a reader that falls behind
/// leaves lines in the trace's bounded buffer, where the excess is skipped and counted. The
/// reader closing (or vanishing) ends the trace.
final class TraceStreamSession: AdminWebSocket, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = ByteBuffer

    static let path = "/admin/trace"

    /// Most messages written in one flush.
    static let batchSize = 256

    private let reading: TraceReading
    var context: ChannelHandlerContext?
    var closing = false

    init(reading: TraceReading) {
        self.reading = reading
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = context.eventLoop
        let allocator = context.channel.allocator
        let sink = reading.sink
        Task { [weak self] in
            while let first = await sink.next() {
                var frames = ByteBuffer()
                for message in [first] + sink.take(upTo: Self.batchSize - 1) {
                    var frame = WireFrame.make(.text, payload: Array(message.json.utf8), allocator: allocator)
                    frames.writeBuffer(&frame)
                }
                guard let self, await self.write(frames, on: loop) else { return }
            }
            loop.execute { self?.closeStream(code: .normal, reason: "trace ended") }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping where !closing:
            let pong = WireFrame.make(.pong, payload: frame.unmaskedData.readableBytesView, allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            stop()
            guard !closing else { return context.close(promise: nil) }
            closing = true
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? CloseCode.normal.rawValue
            let reply = WireFrame.close(code: code, reason: "", allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { [weak self] _ in self?.context?.close(promise: nil) }
        default:
            break  // the reader has nothing to say on a trace stream
        }
    }

    /// The reader is gone: the trace ends (`reader gone`).
    func stop() {
        reading.cancel()
    }

    /// Writes frames and waits until they are flushed; false once the stream is closing.
    private func write(_ frame: ByteBuffer, on loop: any EventLoop) async -> Bool {
        let promise = loop.makePromise(of: Void.self)
        loop.execute {
            guard let context = self.context, !self.closing else { return promise.fail(ChannelError.ioOnClosedChannel) }
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: promise)
        }
        return (try? await promise.futureResult.get()) != nil
    }

}
