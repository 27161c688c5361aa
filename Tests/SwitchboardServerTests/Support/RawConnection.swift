import NIOCore
import NIOPosix
import SwitchboardCore

/// A plain TCP connection for the cases a well-behaved WebSocket client cannot produce: exact
/// HTTP handshakes, silence (never answering pings), hand-made frames.
struct RawConnection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Connects to the server on `port` from `source` (a loopback address; by default the
    /// system picks 127.0.0.1).
    static func connect(port: Int, from source: String? = nil) async throws -> RawConnection {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel =
            try await bootstrap
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawConnection(channel: channel)
    }

    /// Sends `request`, reads until the peer closes, returns everything received.
    func exchange(_ request: [UInt8], readUntil stop: ([UInt8]) -> Bool = { _ in false }) async throws -> [UInt8] {
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: request))
            var received: [UInt8] = []
            for try await chunk in inbound {
                received += chunk.readableBytesView
                if stop(received) { break }
            }
            return received
        }
    }

    /// A WebSocket upgrade request for `path`, with optional header changes.
    static func upgradeRequest(
        path: String = "/ws", version: String? = "13", key: String? = "dGhlIHNhbXBsZSBub25jZQ==", method: String = "GET", upgrade: Bool = true
    ) -> [UInt8] {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1"]
        if upgrade { lines += ["Upgrade: websocket", "Connection: Upgrade"] }
        if let key { lines.append("Sec-WebSocket-Key: \(key)") }
        if let version { lines.append("Sec-WebSocket-Version: \(version)") }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// A masked client frame.
    static func frame(_ opcode: WireFrame.Opcode, _ payload: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        payload.withUnsafeBytes { WireFrame.writeMasked(opcode, payload: $0, maskKey: 0x1234_5678, into: &buffer) }
        return Array(buffer.readableBytesView)
    }
}

/// Frames parsed from raw server bytes (after the HTTP response head).
struct ServerFrames {
    var httpHead = ""
    var frames: [(opcode: UInt8, payload: [UInt8])] = []

    init(_ bytes: [UInt8]) {
        guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else {
            httpHead = String(decoding: bytes, as: UTF8.self)
            return
        }
        httpHead = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        var index = end.upperBound
        while index + 2 <= bytes.count {
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var header = 2
            if length == 126 {
                guard index + 4 <= bytes.count else { break }
                length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
                header = 4
            } else if length == 127 {
                guard index + 10 <= bytes.count else { break }
                length = bytes[(index + 2)..<(index + 10)].reduce(0) { $0 << 8 | Int($1) }
                header = 10
            }
            guard index + header + length <= bytes.count else { break }
            frames.append((opcode, Array(bytes[(index + header)..<(index + header + length)])))
            index += header + length
        }
    }

    /// The close frame's status code, if a close frame arrived.
    var closeCode: UInt16? {
        guard let close = frames.first(where: { $0.opcode == 0x8 }), close.payload.count >= 2 else { return nil }
        return UInt16(close.payload[0]) << 8 | UInt16(close.payload[1])
    }

    var statusLine: Substring { httpHead.split(separator: "\r\n").first ?? "" }
}
