import NIOCore
import NIOWebSocket
import SwitchboardCore

/// Turns a client's bytes into `WebSocketFrame`s with ``FrameParser``'s rules: unlike NIO's own
/// decoder it tells a length with the top bit set (1002) from one over the limit (1009), so the
/// handler can close with the code RFC 6455 asks for.
///
/// Admin streams use it; a ``Session`` parses its bytes itself, which saves every client the
/// decoder's handler, context and buffer state (~300 bytes per connection).
struct ClientFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = WebSocketFrame
    let parser: FrameParser

    init(maxPayload: Int) {
        parser = FrameParser(maxPayload: maxPayload)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try parser.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(WebSocketFrame(frame)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

extension WebSocketFrame {
    /// The frame ``FrameParser`` found, as NIO's frame type.
    init(_ frame: FrameParser.Frame) {
        self.init(
            fin: frame.fin,
            rsv1: frame.reservedBits & 0b100 != 0,
            rsv2: frame.reservedBits & 0b010 != 0,
            rsv3: frame.reservedBits & 0b001 != 0,
            opcode: WebSocketOpcode(encodedWebSocketOpcode: frame.opcode)!,  // every 4-bit value is encodable
            maskKey: frame.maskKey.flatMap(WebSocketMaskingKey.init),
            data: frame.payload
        )
    }
}
