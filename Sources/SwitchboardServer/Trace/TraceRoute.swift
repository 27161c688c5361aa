import HTTPTypes
import Hummingbird
import SwitchboardCore

/// `GET /admin/trace` without a WebSocket upgrade: says what the upgrade would have answered,
/// so a client whose WebSocket library hides the handshake's status (the CLI) can tell the
/// operator why: 400 for a bad target, 429 `too_many_traces` while `max-traces` traces run,
/// else 426 (send the upgrade).
enum TraceRoute {
    static func register(on router: Router<SwitchboardRequestContext>, hub: Hub, access: AdminAccess) {
        router.group("admin").add(middleware: AdminAuthMiddleware(access: access)).get("trace") { request, _ -> Response in
            var query: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            do {
                _ = try TraceTarget(query: query)
            } catch {
                throw APIError(.badRequest, code: "bad_request", "\(error); e.g. /admin/trace?client=c1")
            }
            if hub.runningTraces >= hub.configuration.maxTraces {
                let refusal = TraceRefusal.tooManyTraces(limit: hub.configuration.maxTraces)
                throw APIError(.tooManyRequests, code: refusal.code, refusal.message)
            }
            throw APIError(
                .upgradeRequired, code: "upgrade_required", "/admin/trace is a WebSocket: send Upgrade: websocket",
                headers: [.upgrade: "websocket", .secWebSocketVersion: "13"])
        }
    }
}
