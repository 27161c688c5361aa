import NIOCore

/// Turns a Redis connection's bytes into RESP values, handed to `onValue` in arrival order.
///
/// Bytes that are not RESP lose the connection's framing: the channel is closed.
final class RESPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let decoder = RESPDecoder()
    private var buffered: ByteBuffer?
    private let onValue: (RESPValue) -> Void

    init(onValue: @escaping (RESPValue) -> Void) {
        self.onValue = onValue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var pending = buffered {
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        do {
            while let value = try decoder.next(from: &bytes) { onValue(value) }
        } catch {
            context.close(promise: nil)
            return
        }
        if bytes.readableBytes == 0 {
            buffered = nil
        } else {
            bytes.discardReadBytes()
            buffered = bytes
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
