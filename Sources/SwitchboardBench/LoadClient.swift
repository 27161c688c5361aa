import NIOCore
import NIOPosix
import SwitchboardCore

/// A lean WebSocket client on plain NIO handlers for load generation: it performs the opening
/// handshake itself, parses unmasked server frames in place and hands text payloads to a
/// ``LoadClientRole``. No task, stream or copy per message, so one core can drive far more
/// traffic than the server under test delivers per core.
final class LoadClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase { case handshaking, open, closed }

    let role: any LoadClientRole
    private let host: String
    private let path: String
    private var phase = Phase.handshaking
    private var buffer = ByteBuffer()
    /// Server frames are unmasked and at most a message long; 64 MiB bounds a broken server.
    private let frames = FrameParser(maxPayload: 64 << 20)
    private(set) var context: ChannelHandlerContext?
    /// Set when the server closed the connection, with its close code.
    private(set) var closeCode: UInt16?

    init(role: any LoadClientRole, host: String, path: String) {
        self.role = role
        self.host = host
        self.path = path
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUser-Agent: switchboard-bench\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if phase != .closed {
            phase = .closed
            role.closed(self, code: closeCode)
        }
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        if phase == .handshaking {
            guard let end = buffer.readableBytesView.firstRange(of: [13, 10, 13, 10]) else { return }
            let headLength = end.upperBound - buffer.readableBytesView.startIndex
            let head = buffer.readString(length: headLength) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else {
                phase = .closed
                role.failed(self, reason: String(head.prefix { $0 != "\r" }))
                context.close(promise: nil)
                return
            }
            phase = .open
            role.opened(self)
        }
        while phase == .open {
            let frame: FrameParser.Frame
            do {
                guard let next = try frames.next(from: &buffer) else { break }
                frame = next
            } catch {
                context.close(promise: nil)
                return
            }
            switch frame.opcode {
            case WireFrame.Opcode.text.rawValue:
                role.received(self, text: frame.payload)
            case WireFrame.Opcode.ping.rawValue:
                send(.pong, payload: frame.payload)
                context.flush()
            case WireFrame.Opcode.close.rawValue:
                var payload = frame.payload
                closeCode = payload.readInteger(as: UInt16.self) ?? 1005
                send(.close, payload: ByteBuffer(bytes: [UInt8(closeCode! >> 8), UInt8(closeCode! & 0xFF)]))
                context.flush()
                context.close(promise: nil)
            default:
                break
            }
        }
        buffer.discardReadBytes()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        role.readComplete(self)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Writes one masked frame (not flushed).
    func send(_ opcode: WireFrame.Opcode, payload: ByteBuffer) {
        guard let context else { return }
        var frame = context.channel.allocator.buffer(capacity: payload.readableBytes + 14)
        payload.withUnsafeReadableBytes { WireFrame.writeMasked(opcode, payload: $0, maskKey: 0x3779_1A2B, into: &frame) }
        context.write(wrapOutboundOut(frame), promise: nil)
    }

    /// Writes one masked text frame from a string (not flushed).
    func sendText(_ text: String) {
        send(.text, payload: ByteBuffer(string: text))
    }

    func flush() {
        context?.flush()
    }
}

/// What a load client does with the frames it receives.
protocol LoadClientRole: AnyObject {
    /// The handshake succeeded (before any frame).
    func opened(_ client: LoadClient)
    func received(_ client: LoadClient, text: ByteBuffer)
    func readComplete(_ client: LoadClient)
    func closed(_ client: LoadClient, code: UInt16?)
    func failed(_ client: LoadClient, reason: String)
}

extension LoadClientRole {
    func opened(_ client: LoadClient) {}
    func readComplete(_ client: LoadClient) {}
}

/// Where the server under test listens.
public struct LoadTarget: Sendable {
    public var host: String
    public var port: Int
    public var path: String
    /// The host resolved once, so that a connect storm does not make one resolver call per
    /// connection (each counts against the connect timeout, and they queue on one thread).
    var address: SocketAddress

    /// Parses `ws://host:port/path` and resolves the host.
    public init(url: String) throws {
        guard url.hasPrefix("ws://") else { throw LoadError("only ws:// URLs are supported: \(url)") }
        let rest = url.dropFirst("ws://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw LoadError("expected ws://HOST:PORT/PATH, got \(url)") }
        self.host = String(parts[0])
        self.port = port
        self.path = path.isEmpty ? "/" : String(path)
        do {
            self.address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw LoadError("cannot resolve \(host): \(error)")
        }
    }
}

/// A load run that could not proceed, with the reason.
public struct LoadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension LoadClient {
    /// Opens a connection to `target` driven by `role`.
    static func connect(to target: LoadTarget, on loop: any EventLoop, role: any LoadClientRole, bindingTo source: String? = nil) -> EventLoopFuture<
        LoadClient
    > {
        let client = LoadClient(role: role, host: "\(target.host):\(target.port)", path: target.path)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(client) }
            }
        if let source, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        return bootstrap.connect(to: target.address).map { _ in client }
    }
}
