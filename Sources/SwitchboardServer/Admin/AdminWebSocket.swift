import NIOCore
import SwitchboardCore

/// What the admin WebSockets (``AdminStreamSession``, ``TraceStreamSession``) share: their
/// work stops when the channel goes, the end of the reader's input closes the channel, and a
/// frame the decoder rejects closes it with 1002.
protocol AdminWebSocket: ChannelInboundHandler where OutboundOut == ByteBuffer {
    var context: ChannelHandlerContext? { get set }
    /// Whether our close frame is on its way (nothing else is written).
    var closing: Bool { get set }
    /// Stops the handler's work: the reader is gone.
    func stop()
}

extension AdminWebSocket {
    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeStream(code: .protocolError, reason: "invalid frame")
    }

    /// Writes our close frame, then closes the channel.
    func closeStream(code: CloseCode, reason: String) {
        guard let context, !closing else { return }
        closing = true
        let frame = WireFrame.close(code: code.rawValue, reason: reason, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { [weak self] _ in self?.context?.close(promise: nil) }
    }
}
