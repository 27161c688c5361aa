import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import SwitchboardCore

/// How each accepted TCP connection is set up: HTTP/1.1 served by Hummingbird, except that a
/// WebSocket upgrade on the hub's path leaves HTTP behind for good and becomes a ``Session`` on
/// plain NIO channel handlers.
///
/// Why not HummingbirdWebSocket's channel: it gives every connection an async task, an
/// `AsyncStream` and a frame encoder pass per message. A hub that writes one pre-encoded frame to
/// thousands of clients needs delivery to be a plain call on the client's event loop, and the
/// bytes to skip the encoder (see the README's architecture section). For WebSocket connections
/// `handle(value:)` returns at once: nothing per connection lives outside the channel pipeline.
struct SwitchboardChildChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        case webSocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// A WebSocket handshake we refused; NIO does not replay its request to HTTP, so the
        /// answer is written here.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HandshakeRefusal)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let hub: Hub
    let admin: AdminEndpoint
    let endpoints: WebSocketEndpoints
    let origins: OriginPolicy
    let authenticator: ClientAuthenticator?
    let handshakeTimeout: TimeAmount
    let httpIdleTimeout: Duration
    /// Whether the connection is TLS (the HTTP codec marks requests `https`).
    let secure: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let (hub, secure) = (self.hub, self.secure)
            let endpoints = self.endpoints
            // A small first receive buffer that grows only for clients that send large messages.
            try channel.syncOptions?.setOption(
                ChannelOptions.recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 16 * 1024)
            )
            try channel.pipeline.syncOperations.addHandler(HandshakeTimeoutHandler(timeout: handshakeTimeout))

            let refusal = NIOLoopBoundBox<HandshakeRefusal?>(nil, eventLoop: channel.eventLoop)
            let upgrader = SessionUpgrader(
                hub: hub, endpoints: endpoints, origins: origins, admin: admin, authenticator: authenticator, refusal: refusal,
                identity: NIOLoopBoundBox(.anonymous, eventLoop: channel.eventLoop),
                deflate: NIOLoopBoundBox(nil, eventLoop: channel.eventLoop),
                client: NIOLoopBoundBox(nil, eventLoop: channel.eventLoop),
                trace: NIOLoopBoundBox(nil, eventLoop: channel.eventLoop)
            )
            let serverUpgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try HandshakeTimeoutHandler.remove(from: pipeline)
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: httpIdleTimeout, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if let refused = refusal.value { return UpgradeResult.refused(asyncChannel, refused) }
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: serverUpgrade)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = true  // malformed requests, huge headers: 400, then close
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = 16 * 1024
            configuration.decoderConfiguration.maxHeaderListSize = 64 * 1024
            configuration.decoderConfiguration.maxHeaderFieldCount = 100
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket:
                return  // the session's handlers drive the channel from here on
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let refusal):
                await refuse(http, refusal)
            }
        } catch {
            logger.debug("connection setup failed", metadata: ["error": "\(error)"])
            try? await value.channel.close()
        }
    }

    private func refuse(_ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ refusal: HandshakeRefusal) async {
        let body = ByteBuffer(string: APIError(.badRequest, code: refusal.code, refusal.message).body)
        var headers: HTTPFields = [.contentType: "application/json", .contentLength: "\(body.readableBytes)", .connection: "close"]
        headers.append(contentsOf: refusal.extraHeaders)
        try? await channel.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [.head(HTTPResponse(status: refusal.status, headerFields: headers)), .body(body), .end(nil)])
        }
    }

    static func path(of uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }
}

/// The WebSocket paths of the server and what each one speaks.
struct WebSocketEndpoints: Sendable {
    /// The native protocol's path (`/ws`).
    let native: String
    /// The conformance echo route, when `--echo-route` turned it on.
    let echo: String?

    /// What a WebSocket path serves.
    enum Endpoint: Equatable {
        /// The native protocol (`--ws-path`).
        case native
        case echo
        /// The Pusher protocol for the app with this key (`/app/{key}`).
        case pusher(key: String)
    }

    /// Pusher clients connect to `/app/{key}`.
    static let pusherPrefix = "/app/"

    /// The endpoint at `path`, or nil when no session lives there.
    func endpoint(for path: Substring) -> Endpoint? {
        if path == native { return .native }
        if let echo, path == echo { return .echo }
        if path.hasPrefix(Self.pusherPrefix) {
            let raw = path.dropFirst(Self.pusherPrefix.count)
            // Decoded as the HTTP routes' path parameters are; a malformed escape names no app.
            if !raw.isEmpty && !raw.contains("/") { return .pusher(key: QueryString.percentDecoded(String(raw)) ?? String(raw)) }
        }
        return nil
    }

    /// Every session path, for the answers to failed upgrades.
    var all: [String] { [native] + (echo.map { [$0] } ?? []) }
}

/// Upgrades a valid WebSocket handshake on a session path to a ``Session``.
///
/// NIO's own WebSocket upgrader always installs its frame encoder, and its handshake refusals are
/// silent; this one installs only the session, which parses frames itself and writes finished
/// frame bytes (admin streams get ``ClientFrameDecoder``), and
/// lets every refused handshake fall through to HTTP, where ``HTTPRoutes`` answers it with a
/// status that says why (426, 400, 503).
struct SessionUpgrader: NIOTypedHTTPServerProtocolUpgrader {
    typealias UpgradeResult = SwitchboardChildChannel.UpgradeResult
    let hub: Hub
    let endpoints: WebSocketEndpoints
    /// Which browser pages may connect.
    let origins: OriginPolicy
    /// The admin stream's endpoint and who may use it.
    let admin: AdminEndpoint
    /// Checks client tokens on the hub's path when authentication is on.
    let authenticator: ClientAuthenticator?
    let refusal: NIOLoopBoundBox<HandshakeRefusal?>
    /// The client's identity, from the handshake to the session.
    let identity: NIOLoopBoundBox<ClientIdentity>
    /// The permessage-deflate terms agreed in the handshake, for the session.
    let deflate: NIOLoopBoundBox<DeflateParameters?>
    /// The client's number and id when the handshake needed them early (to ask the connect proxy).
    let client: NIOLoopBoundBox<(number: UInt64, id: String)?>
    /// The trace a `/admin/trace` handshake started, for its stream.
    let trace: NIOLoopBoundBox<TraceReading?>
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<
        HTTPHeaders
    > {
        let headers = upgradeRequest.headers
        let requestPath = SwitchboardChildChannel.path(of: upgradeRequest.uri)
        let key = headers["Sec-WebSocket-Key"]
        let isTrace = requestPath == TraceStreamSession.path
        let isAdmin = requestPath == AdminEndpoint.path || isTrace
        let route = endpoints.endpoint(for: requestPath)
        let token = PresentedToken.find(authorization: headers["Authorization"].first, uri: upgradeRequest.uri)
        let source = channel.remoteAddress?.ipAddress ?? "unknown"
        var problem: HandshakeRefusal? =
            if !origins.permits(origin: headers["Origin"].first, host: headers["Host"].first) {
                HandshakeRefusal(
                    status: .forbidden, code: "origin_not_allowed",
                    message: "pages from origin \(headers["Origin"].first ?? "") may not connect; see --allowed-origins"
                )
            } else if isAdmin, let retryAfter = admin.access.lockedOut(source) {
                HandshakeRefusal(
                    status: .tooManyRequests, code: "too_many_attempts", message: AdminAccess.lockedOutMessage(retryAfter: retryAfter),
                    extraHeaders: [.retryAfter: String(retryAfter)])
            } else if isAdmin && !admin.access.authorizes(token, from: source) {
                HandshakeRefusal(
                    status: .unauthorized, code: "unauthorized",
                    message: "missing or wrong admin token; send Authorization: Bearer <token> or ?token=",
                    extraHeaders: [.wwwAuthenticate: "Bearer realm=\"switchboard\""]
                )
            } else if route == nil && !isAdmin {
                HandshakeRefusal(status: .notFound, code: "not_found", message: "no WebSocket endpoint at \(requestPath); try \(endpoints.native)")
            } else if upgradeRequest.method != .GET {
                HandshakeRefusal(
                    status: .methodNotAllowed, code: "bad_handshake", message: "a WebSocket handshake must be a GET", extraHeaders: [.allow: "GET"])
            } else if headers["Sec-WebSocket-Version"] != ["13"] {
                HandshakeRefusal(
                    status: .upgradeRequired,
                    code: "upgrade_required",
                    message: "unsupported WebSocket version; this server speaks version 13",
                    extraHeaders: [.secWebSocketVersion: "13"]
                )
            } else if key.count != 1 || !WebSocketHandshake.isValidKey(key[0]) {
                HandshakeRefusal(status: .badRequest, code: "bad_handshake", message: "missing or malformed Sec-WebSocket-Key")
            } else if !isAdmin && hub.gate.limitsSources, let refused = hub.gate.admit(address: source, until: channel) {
                HandshakeRefusal(refused)
            } else if !isAdmin, let reason = hub.takePlace(until: channel) {
                HandshakeRefusal(status: .serviceUnavailable, code: "unavailable", message: reason, extraHeaders: [.retryAfter: "1"])
            } else {
                nil
            }
        if problem == nil && isTrace { problem = startTrace(uri: upgradeRequest.uri, channel: channel) }
        if let problem {
            refusal.value = problem
            return channel.eventLoop.makeFailedFuture(problem)
        }
        var response = initialResponseHeaders
        response.add(name: "Sec-WebSocket-Accept", value: WebSocketHandshake.acceptValue(forKey: key[0]))
        if route != nil, let accepted = DeflateParameters.negotiate(headers["Sec-WebSocket-Extensions"]) {
            deflate.value = accepted
            response.add(name: "Sec-WebSocket-Extensions", value: accepted.responseHeader)
        }
        let connectProxy = hub.proxy.flatMap { $0.configuration.connectURL == nil ? nil : $0 }
        guard route == .native, authenticator != nil || connectProxy != nil else { return channel.eventLoop.makeSucceededFuture(response) }
        let (refusal, identity, accepted, authenticator) = (self.refusal, self.identity, response, self.authenticator)
        let question = connectProxy.map { proxy in
            let client = hub.makeClientID()
            self.client.value = client
            let passed = proxy.configuration.headers.compactMap { name -> (name: String, value: String)? in
                let values = headers[name]
                return values.isEmpty ? nil : (name, values.joined(separator: name.lowercased() == "cookie" ? "; " : ", "))
            }
            return (proxy: proxy, client: client.id, remote: Hub.remoteAddress(of: channel), headers: passed)
        }
        return channel.eventLoop.makeFutureWithTask { () async -> Result<ClientIdentity, HandshakeRefusal> in
            let identified = await Self.identify(token: token.map(String.init), authenticator: authenticator, question: question)
            // With max-connections-per-user, the user's connections on every node are counted.
            guard case .success(let client) = identified, hub.gate.maxConnectionsPerUser > 0, let user = client.user else { return identified }
            if let refused = await hub.gate.admit(user: user, until: channel, engine: hub.engine) { return .failure(HandshakeRefusal(refused)) }
            return identified
        }.flatMapThrowing { result in
            switch result {
            case .success(let client):
                identity.value = client
                return accepted
            case .failure(let problem):
                refusal.value = problem
                throw problem
            }
        }
    }

    /// Starts the trace a `/admin/trace` handshake asks for (kept for its stream), or says why
    /// not: 400 for a bad target, 429 `too_many_traces` past `max-traces`.
    private func startTrace(uri: String, channel: any Channel) -> HandshakeRefusal? {
        let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first.map { QueryString.parse(String($0)) } ?? []
        do {
            let target = try TraceTarget(query: Dictionary(query, uniquingKeysWith: { _, last in last }))
            trace.value = try hub.startTrace(target, reader: Hub.remoteAddress(of: channel))
            return nil
        } catch let error as TraceTargetError {
            return HandshakeRefusal(status: .badRequest, code: "bad_request", message: "\(error); e.g. /admin/trace?client=c1")
        } catch let refusal as TraceRefusal {
            return HandshakeRefusal(status: .tooManyRequests, code: refusal.code, message: refusal.message)
        } catch {
            return HandshakeRefusal(status: .internalServerError, code: "internal", message: "\(error)")
        }
    }

    /// Who the client is: a valid token wins; without one, the connect proxy (when set) decides.
    private static func identify(
        token: String?, authenticator: ClientAuthenticator?,
        question: (proxy: ApplicationProxy, client: String, remote: String, headers: [(name: String, value: String)])?
    ) async -> Result<ClientIdentity, HandshakeRefusal> {
        if let authenticator {
            switch await authenticator.authenticate(token) {
            case .success(let client): return .success(client)
            case .failure(let failure) where question == nil:
                return .failure(
                    HandshakeRefusal(
                        status: .unauthorized, code: "unauthorized", message: failure.reason,
                        extraHeaders: [.wwwAuthenticate: "Bearer realm=\"switchboard\", error=\"invalid_token\""]
                    ))
            case .failure: break
            }
        }
        guard let (proxy, client, remote, passed) = question else { return .success(.anonymous) }
        return Self.admission(await proxy.connect(client: client, remote: remote, headers: passed))
    }

    /// The connect proxy's answer as the handshake's outcome: the identity it granted, 403 with
    /// the backend's code and message (a `disconnect` answer too), or 503 when it gave none.
    static func admission(_ outcome: ProxyOutcome<ConnectGrant>) -> Result<ClientIdentity, HandshakeRefusal> {
        switch outcome {
        case .granted(let grant):
            return .success(ClientIdentity(proxied: grant))
        case .refused(let code, let message):
            return .failure(HandshakeRefusal(status: .forbidden, code: code, message: message))
        case .disconnect(_, let reason):
            return .failure(HandshakeRefusal(status: .forbidden, code: "forbidden", message: reason))
        case .failed(let failure):
            let error = failure.protocolError
            return .failure(
                HandshakeRefusal(status: .serviceUnavailable, code: error.code.rawValue, message: error.message, extraHeaders: [.retryAfter: "1"]))
        }
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try HandshakeTimeoutHandler.remove(from: pipeline)
            let path = SwitchboardChildChannel.path(of: upgradeRequest.uri)
            if let endpoint = endpoints.endpoint(for: path) {
                let route: Session.Route
                switch endpoint {
                case .native: route = .native
                case .echo: route = .echo
                case .pusher(let key):
                    let version = QueryString.value(of: "protocol", inURI: upgradeRequest.uri)
                    route = hub.pusherRoute(key: key, protocolVersion: version, channel: channel)
                }
                try pipeline.addHandler(
                    hub.makeSession(
                        for: channel, route: route, identity: identity.value, deflate: deflate.value,
                        userAgent: upgradeRequest.headers["User-Agent"].first ?? "", client: client.value)
                )
            } else if let reading = trace.value {
                trace.value = nil
                try pipeline.addHandler(ByteToMessageHandler(ClientFrameDecoder(maxPayload: hub.configuration.maxMessageBytes)))
                try pipeline.addHandler(TraceStreamSession(reading: reading))
            } else {
                try pipeline.addHandler(ByteToMessageHandler(ClientFrameDecoder(maxPayload: hub.configuration.maxMessageBytes)))
                try pipeline.addHandler(AdminStreamSession(hub: hub, snapshots: admin.snapshots, name: "admin-\(hub.makeClientID().id)"))
            }
            return .webSocket
        }
    }
}

/// The admin stream's endpoint: where it lives, who may attach, what it reads.
struct AdminEndpoint: Sendable {
    static let path = "/admin/stream"
    let access: AdminAccess
    /// What every stream's snapshots share (and the collector they come from).
    let snapshots: SharedSnapshot
}

/// Why a WebSocket handshake was refused, as the HTTP answer the client gets.
struct HandshakeRefusal: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var extraHeaders: HTTPFields = [:]

    init(status: HTTPResponse.Status, code: String, message: String, extraHeaders: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.extraHeaders = extraHeaders
    }

    /// A limit's refusal: 429 with its code, or 503 `unavailable` when it could not be checked.
    init(_ refused: ConnectionGate.Refusal) {
        switch refused.status {
        case .tooManyRequests:
            self.init(
                status: .tooManyRequests, code: refused.reason?.code ?? "too_many_connections", message: refused.message,
                extraHeaders: [.retryAfter: "1"])
        case .serviceUnavailable:
            self.init(status: .serviceUnavailable, code: "unavailable", message: refused.message, extraHeaders: [.retryAfter: "1"])
        }
    }
}

/// Closes a connection that has not finished its HTTP request head (or WebSocket handshake)
/// within the timeout: the slowloris defence. Removed once the request is routed.
final class HandshakeTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    static func remove(from pipeline: ChannelPipeline.SynchronousOperations) throws {
        pipeline.removeHandler(context: try pipeline.context(handlerType: Self.self), promise: nil)
    }
}
