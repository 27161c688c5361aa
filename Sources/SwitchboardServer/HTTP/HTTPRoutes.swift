import Hummingbird
import HTTPTypes
import NIOCore
import SwitchboardCore

/// The plain HTTP side of the server: the landing page, health, and clear answers for WebSocket
/// handshakes that could not be upgraded.
enum HTTPRoutes {
    static func router(hub: Hub, endpoints: WebSocketEndpoints) -> Router<SwitchboardRequestContext> {
        let router = Router(context: SwitchboardRequestContext.self)
        let page = ByteBuffer(string: LandingPage.html(webSocketPath: endpoints.native, pusherApps: hub.apps.byID.count))
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: page))
        }
        let script = ByteBuffer(string: ClientScript.source)
        router.get("/switchboard.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"], body: .init(byteBuffer: script))
        }
        router.get("/healthz") { _, _ in
            json(.ok, "{\"status\":\"ok\",\"uptime_s\":\(Int(hub.uptimeSeconds)),\"connections\":\(hub.connectionCount)}")
        }
        // Reached only when the upgrade did not happen: say why, with the status a client expects.
        for path in endpoints.all + [WebSocketEndpoints.pusherPrefix + ":key"] {
            router.get(RouterPath(path)) { request, _ in upgradeNotDone(request, hub: hub) }
        }
        return router
    }

    private static func upgradeNotDone(_ request: Request, hub: Hub) -> Response {
        let upgrade = request.headers[.upgrade]?.lowercased()
        let version = request.headers[.secWebSocketVersion]
        if upgrade != "websocket" {
            return upgradeRequired("this endpoint speaks WebSocket: send Upgrade: websocket")
        }
        if version != "13" {
            return upgradeRequired("unsupported WebSocket version; this server speaks version 13")
        }
        if request.headers[.secWebSocketKey] == nil {
            return APIError(.badRequest, code: "bad_handshake", "missing Sec-WebSocket-Key").response
        }
        if let refusal = hub.admissionRefusal {
            return APIError(.serviceUnavailable, code: "unavailable", refusal, headers: [.retryAfter: "1"]).response
        }
        // A valid upgrade that arrived after another request on a keep-alive connection:
        // NIO upgrades only a connection's first request, so ask for a fresh connection.
        return Response(status: .temporaryRedirect, headers: [.location: request.uri.description, .connection: "close"])
    }

    private static func upgradeRequired(_ message: String) -> Response {
        APIError(.upgradeRequired, code: "upgrade_required", message, headers: [.secWebSocketVersion: "13", .upgrade: "websocket"]).response
    }

    static func json(_ status: HTTPResponse.Status, _ body: String, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
