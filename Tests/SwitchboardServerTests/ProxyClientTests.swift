import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// ``ApplicationProxy`` against a real HTTP backend on loopback (a canned one, below): what it
/// sends, how it reads each answer, and its breaker. The refresh question is tested here; the
/// others also end to end (Tests/EndToEnd/test_proxy.py).
@Suite("Proxy client")
struct ProxyClientTests {
    static let secret = "proxy-secret-0123456789"

    static func proxy(_ backend: CannedBackend, failures: Int = 5) -> ApplicationProxy {
        var configuration = ProxyConfiguration()
        configuration.refreshURL = "http://127.0.0.1:\(backend.port)/refresh"
        configuration.secret = secret
        configuration.breakerFailures = failures
        configuration.breakerCooldown = .seconds(60)
        return ApplicationProxy(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
    }

    @Test("refresh: a signed {client,user} POST; result expire_at, error and disconnect come back as they were answered")
    func refreshAnswers() async throws {
        let backend = try await CannedBackend.start()
        let proxy = Self.proxy(backend)
        backend.answer(200, #"{"result":{"expire_at":1800000600}}"#)
        guard case .granted(let expireAt) = await proxy.refresh(client: "c1", user: "ann") else { throw TestFailure("not granted") }
        #expect(expireAt == 1_800_000_600)
        let request = try #require(backend.requests.first)
        #expect(request.path == "/refresh")
        #expect(request.body == #"{"client":"c1","user":"ann"}"#)
        let signature = try #require(request.headers["x-switchboard-signature"])
        let time = try #require(Int(signature.dropFirst(2).prefix { $0 != "," }))
        #expect(signature == ProxySignature.value(secret: Self.secret, time: time, body: Array(request.body.utf8)))

        backend.answer(200, #"{"error":{"code":"session_revoked","message":"sign in again"}}"#)
        guard case .refused("session_revoked", "sign in again") = await proxy.refresh(client: "c1", user: "ann") else {
            throw TestFailure("not refused")
        }
        backend.answer(200, #"{"disconnect":{"code":4401,"reason":"gone"}}"#)
        guard case .disconnect(4401, "gone") = await proxy.refresh(client: "c1", user: "ann") else { throw TestFailure("no disconnect") }
        await proxy.shutdown()
        try await backend.stop()
    }

    @Test("a 5xx and an answer that is not one are failures; consecutive ones open the breaker, which then refuses without asking")
    func failuresOpenTheBreaker() async throws {
        let backend = try await CannedBackend.start()
        let proxy = Self.proxy(backend, failures: 2)
        backend.answer(500, #"{"result":{"expire_at":1}}"#)
        #expect(await proxy.refresh(client: "c1", user: nil).failure == .status)
        backend.answer(200, #"{"result":{}}"#)
        #expect(await proxy.refresh(client: "c1", user: nil).failure == .malformed)
        #expect(await proxy.refresh(client: "c1", user: nil).failure == .circuitOpen)
        #expect(backend.requests.count == 2)
        let figures = proxy.statistics.takeForExport()[.refresh]
        #expect(figures?.failures == [.status: 1, .malformed: 1, .circuitOpen: 1])
        #expect(figures?.pendingDurations.count == 2)
        await proxy.shutdown()
        try await backend.stop()
    }
}

/// An HTTP/1.1 server on 127.0.0.1, port 0, that records each request and answers every one
/// with the status and body last given to ``answer(_:_:)``, then closes the connection.
final class CannedBackend: Sendable {
    /// One request as the backend received it (header names in lower case).
    struct Request: Sendable {
        let path: String
        let headers: [String: String]
        let body: String
    }

    /// The answer to give and the requests so far.
    struct Canned {
        var status = 200
        var body = "{}"
        var requests: [Request] = []
    }

    /// ``Canned``, shared by the backend and its connections' handlers.
    final class Shared: Sendable {
        let canned = Mutex(Canned())
    }

    private let channel: any Channel
    private let state: Shared

    var port: Int { channel.localAddress?.port ?? 0 }
    var requests: [Request] { state.canned.withLock { $0.requests } }

    private init(channel: any Channel, state: Shared) {
        self.channel = channel
        self.state = state
    }

    static func start() async throws -> CannedBackend {
        let state = Shared()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(state: state)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return CannedBackend(channel: channel, state: state)
    }

    func answer(_ status: Int, _ body: String) {
        state.canned.withLock { $0 = Canned(status: status, body: body, requests: $0.requests) }
    }

    func stop() async throws {
        try await channel.close()
    }

    /// Reads one request (head, then `Content-Length` bytes of body) and answers it.
    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let state: Shared
        var received: [UInt8] = []

        init(state: Shared) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += unwrapInboundIn(data).readableBytesView
            let text = String(decoding: received, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n") else { return }
            let lines = text[..<split.lowerBound].split(separator: "\r\n")
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let body = String(text[split.upperBound...])
            guard body.utf8.count >= Int(headers["content-length"] ?? "0") ?? 0 else { return }
            let path = String(lines.first?.split(separator: " ").dropFirst().first ?? "")
            let (status, answer) = state.canned.withLock { state in
                state.requests.append(Request(path: path, headers: headers, body: body))
                return (state.status, state.body)
            }
            let response =
                "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\nConnection: close\r\n\r\n\(answer)"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
