import NIOCore
import NIOWebSocket
import SwitchboardCore

/// Turns a client's bytes into `WebSocketFrame`s with ``FrameParser``'s rules: unlike NIO's own
/// decoder it tells a length with the top bit set (1002) from one over the limit (1009), so the
/// session can close with the code RFC 6455 asks for.
struct ClientFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = WebSocketFrame
    let parser: FrameParser

    init(maxPayload: Int) {
        parser = FrameParser(maxPayload: maxPayload)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try parser.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(
            wrapInboundOut(
                WebSocketFrame(
                    fin: frame.fin,
                    rsv1: frame.reservedBits & 0b100 != 0,
                    rsv2: frame.reservedBits & 0b010 != 0,
                    rsv3: frame.reservedBits & 0b001 != 0,
                    opcode: WebSocketOpcode(encodedWebSocketOpcode: frame.opcode)!,  // every 4-bit value is encodable
                    maskKey: frame.maskKey.flatMap(WebSocketMaskingKey.init),
                    data: frame.payload
                )
            )
        )
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
