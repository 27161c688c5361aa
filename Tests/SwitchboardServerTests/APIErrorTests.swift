import Foundation
import SwitchboardCore
import SwitchboardServer
import Testing

/// Every answer under `/api` that is not a success has one shape:
/// `{"error":{"code":…,"message":…}}`; the Pusher routes keep `{"error":"…"}`.
@Suite struct APIErrorTests {
    /// The error object of an `/api` answer, or nil when the body has another shape.
    private func apiError(_ body: String) -> (code: String, message: String)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let error = object["error"] as? [String: Any], let code = error["code"] as? String, let message = error["message"] as? String,
            object.count == 1
        else { return nil }
        return (code, message)
    }

    @Test func unknownRoutesAnswer404InTheAPIShape() async throws {
        try await TestServer.with { server in
            for (method, path) in [("GET", "/api/nope"), ("GET", "/api"), ("POST", "/api/stats"), ("DELETE", "/api/clients/c1")] {
                let answer = try await server.http(method, path, body: method == "GET" ? nil : "{}")
                #expect(answer.status == 404, "\(method) \(path)")
                #expect(apiError(answer.body)?.code == "not_found", "\(method) \(path): \(answer.body)")
            }
            // Outside /api nothing changes.
            #expect(try await server.http("GET", "/nowhere").status == 404)
        }
    }

    @Test func everyRefusalHasACodeAndAMessage() async throws {
        try await TestServer.with { server in
            let cases: [(String, String, String?, Int, String)] = [
                ("GET", "/api/clients?sort=height", nil, 400, "invalid_sort"),
                ("POST", "/api/publish", "not json", 400, "invalid_json"),
                ("POST", "/api/publish", #"{"channel":"news"}"#, 400, "missing_data"),
                ("POST", "/api/broadcast", #"{"channel":"a b","data":1}"#, 400, "invalid_channel"),
                ("POST", "/api/kick", #"{"reason":"x"}"#, 400, "bad_request"),
                ("POST", "/api/clients/nobody/kick", "{}", 404, "not_found"),
                ("GET", "/api/clients/nobody", nil, 404, "not_found"),
                (
                    "POST", "/api/publish", "{\"channel\":\"news\",\"data\":\"" + String(repeating: "x", count: 1 << 20) + "\"}", 413,
                    "content_too_large"
                ),
            ]
            for (method, path, body, status, code) in cases {
                let answer = try await server.http(method, path, body: body)
                #expect(answer.status == status, "\(method) \(path)")
                let error = apiError(answer.body)
                #expect(error?.code == code, "\(method) \(path): \(answer.body.prefix(200))")
                #expect(error?.message.isEmpty == false)
            }
            let unauthorized = try await server.http("GET", "/api/stats", token: "wrong")
            #expect(unauthorized.status == 401)
            #expect(apiError(unauthorized.body)?.code == "unauthorized")
        }
    }

    @Test func pusherRoutesKeepPushersShape() async throws {
        let app = PusherApp(id: "42", key: "key42", secret: "0123456789abcdef0123")
        try await TestServer.with {
            $0.hub.pusherApps = [app]
        } body: { server in
            let answer = try await server.http("POST", "/apps/42/events?auth_key=nope", body: "{}")
            #expect(answer.status == 401)
            let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            #expect(object?["error"] is String, "\(answer.body)")
        }
    }
}
