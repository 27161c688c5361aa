import NIOCore
import SwitchboardCore

/// What a client's bytes go through before the hub acts on them: the frame parser, unmasking,
/// UTF-8 validation and the request decoders of the native and Pusher protocols (with the
/// presence `channel_data` reader). Any input must end in a frame,
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
    }

    private static func decodeRequests(_ message: UnsafeRawBufferPointer) {
        guard UTF8Validation.isValid(message) else { return }
        _ = ClientRequest.decode(message)
        if case .success(.subscribe(_, _, let channelData?)) = PusherRequest.decode(Array(message)) {
            _ = PresenceMember(channelData: channelData)
        }
    }
}
