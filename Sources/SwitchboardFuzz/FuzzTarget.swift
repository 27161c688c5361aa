import NIOCore
import RedisClient
import SwitchboardCore

/// What a client's bytes go through before the hub acts on them: the frame parser, unmasking,
/// UTF-8 validation and the request decoders of the native and Pusher protocols (with the
/// presence `channel_data` reader); and, on the same bytes, the RESP decoder of the Redis link. Any input must end in a frame,
/// a clean refusal or a request, never a crash, a hang or unbounded work.
enum ClientInputPath {
    /// Runs `bytes` both as a stream of frames and as one request message.
    static func exercise(_ bytes: UnsafeRawBufferPointer) {
        var stream = ByteBuffer(bytes: bytes)
        let parser = FrameParser(maxPayload: 64 * 1024)
        while let frame = try? parser.next(from: &stream) {
            var payload = frame.payload
            if let key = frame.maskKey.map(Array.init) {
                payload = ByteBuffer(bytes: payload.readableBytesView.enumerated().map { $0.element ^ key[$0.offset % 4] })
            }
            payload.withUnsafeReadableBytes(decodeRequests)
        }
        decodeRequests(bytes)
        decodeRedisReplies(bytes)
    }

    /// The same bytes as what a Redis server sent: values until the bytes run out or are not
    /// RESP. (The Redis link's input is not a client's, but the same rule holds: any bytes end
    /// in values, a wait for more, or a refusal.)
    private static func decodeRedisReplies(_ bytes: UnsafeRawBufferPointer) {
        var buffer = ByteBuffer(bytes: bytes)
        let decoder = RESPDecoder(limits: .init(bulkBytes: 1 << 20, arrayCount: 1 << 12, depth: 8, lineBytes: 1024))
        while buffer.readableBytes > 0, let value = try? decoder.next(from: &buffer) { _ = value }
    }

    private static func decodeRequests(_ message: UnsafeRawBufferPointer) {
        guard UTF8Validation.isValid(message) else { return }
        _ = ClientRequest.decode(message)
        if case .success(.subscribe(_, _, let channelData?)) = PusherRequest.decode(Array(message)) {
            _ = PresenceMember(channelData: channelData)
        }
    }
}
