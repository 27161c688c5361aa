import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
public import SwitchboardCore
import WSClient

/// Follows a trace on a running server through its admin route `GET /admin/trace`: the remote
/// console's trace pane and `switchboard trace` both read it.
public struct TraceClient: Sendable {
    /// The server, `http(s)://host:port` or `ws(s)://host:port` (any path is replaced).
    public let server: String
    public let token: String

    public init(server: String, token: String) {
        self.server = server
        self.token = token
    }

    /// The `ws(s)://…/admin/trace?…` URL for `target`, nil when `server` is not a URL.
    func url(for target: TraceTarget) -> URLComponents? {
        guard var components = URLComponents(string: server), components.host != nil else { return nil }
        let secure = components.scheme == "https" || components.scheme == "wss"
        components.scheme = secure ? "wss" : "ws"
        components.path = "/admin/trace"
        components.queryItems = [URLQueryItem(name: target.kind, value: target.value)]
        return components
    }

    /// The trace's messages, from `.started` to `.ended`. A trace the server refuses (too many
    /// running, a bad target, a wrong token) or cannot be reached ends at once, before it
    /// started, with the reason the server gave; one whose stream breaks ends with that.
    /// Ending the iteration (or cancelling its task) closes the stream, which ends the trace.
    public func messages(_ target: TraceTarget) -> AsyncStream<TraceMessage> {
        let (stream, sink) = AsyncStream.makeStream(of: TraceMessage.self, bufferingPolicy: .bufferingNewest(4096))
        let task = Task {
            await follow(target, into: sink)
            sink.finish()
        }
        sink.onTermination = { _ in task.cancel() }
        return stream
    }

    private func follow(_ target: TraceTarget, into sink: AsyncStream<TraceMessage>.Continuation) async {
        guard let url = url(for: target)?.string else {
            sink.yield(.ended(trace: "", reason: "not a server URL: \(server)"))
            return
        }
        var logger = Logger(label: "trace")
        logger.logLevel = .critical
        // The trace's id once it started, and whether its end was seen.
        let seen = Mutex<(trace: String, ended: Bool)>(("", false))
        do {
            let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 22, additionalHeaders: [.authorization: "Bearer \(token)"])
            _ = try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, _, _ in
                for try await frame in inbound.messages(maxSize: 1 << 22) {
                    guard case .text(let text) = frame, let message = TraceMessage(json: Array(text.utf8)) else { continue }
                    seen.withLock { seen in
                        seen.trace = message.trace
                        if case .ended = message { seen.ended = true }
                    }
                    sink.yield(message)
                }
            }
            let (trace, ended) = seen.withLock { $0 }
            if !ended && !Task.isCancelled { sink.yield(.ended(trace: trace, reason: "the server closed the trace stream")) }
        } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
            sink.yield(.ended(trace: "", reason: await refusal(url)))
        } catch {
            let (trace, ended) = seen.withLock { $0 }
            guard !Task.isCancelled, !ended else { return }
            sink.yield(.ended(trace: trace, reason: trace.isEmpty ? "cannot reach \(server): \(error)" : "the trace stream broke: \(error)"))
        }
    }

    /// Why the server would not open the trace stream at `url`: the message of its API error
    /// answer (`{"error":{"code":…,"message":…}}`), asked for again with the same upgrade
    /// request, since the WebSocket client does not keep the refusal's body.
    private func refusal(_ url: String) async -> String {
        var request = HTTPClientRequest(
            url: url.replacing("ws://", with: "http://", maxReplacements: 1).replacing("wss://", with: "https://", maxReplacements: 1))
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Connection", value: "Upgrade")
        request.headers.add(name: "Upgrade", value: "websocket")
        request.headers.add(name: "Sec-WebSocket-Version", value: "13")
        request.headers.add(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZQ==")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 1 << 16)
        else { return "the server refused the trace" }
        let bytes = Array(buffer: body)
        if let error = (try? JSONObject(parsing: bytes))?.raw("error"), let object = try? JSONObject(parsing: Array(error)),
            let message = object.string("message")
        {
            return message
        }
        return "the server refused the trace (HTTP \(response.status.code))"
    }
}
