import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import SwitchboardCore

/// An error answer of the switchboard's own HTTP API (`/api/*`, and the JSON answers of the
/// WebSocket endpoints): a status and `{"error":{"code":"<slug>","message":"<human text>"}}`.
///
/// It renders itself, as Hummingbird's `HTTPError` does, so a route can `throw` it; and
/// ``APIErrorMiddleware`` turns every other error under `/api` (an unknown route, a body too
/// large, a failure inside a route) into one, so no `/api` answer has another shape.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    /// Machine-readable, e.g. `not_found`, `invalid_channel`.
    let code: String
    let message: String
    /// Headers the answer carries besides `Content-Type` (e.g. `WWW-Authenticate`, `Retry-After`).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// An operator command that was refused: 404 for a missing client, 503 when the hub cannot
    /// take it, 400 otherwise.
    init(_ failure: OperatorFailure) {
        let status: HTTPResponse.Status =
            switch failure.code {
            case .notFound: .notFound
            case .unavailable: .serviceUnavailable
            default: .badRequest
            }
        self.init(status, code: failure.code.rawValue, failure.message)
    }

    /// The JSON body.
    var body: String {
        "{\"error\":{\"code\":\"\(code)\",\"message\":\(JSONText.quoted(message))}}"
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }

    /// The answer, ready to send.
    var response: Response {
        HTTPRoutes.json(status, body, extra: headers)
    }
}

/// Gives every answer under `/api` the API's error shape: an unknown route is a 404
/// `not_found`, Hummingbird's own errors (a body over its limit, a bad parameter) keep their
/// status with a code named after it, and an unexpected failure is a 500 `internal`.
///
/// Added to the whole router, because only there does it also see requests that match no
/// route; other paths pass through untouched.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path == "/api" || path.hasPrefix("/api/") else { return try await next(request, context) }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            if error.status == .notFound {
                throw APIError(.notFound, code: "not_found", "no route \(request.method) \(path); see the README's admin API table")
            }
            throw APIError(error.status, code: Self.code(for: error.status), error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("admin API request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            throw APIError(.internalServerError, code: "internal", "the request failed inside the server: \(error)")
        }
    }

    /// A slug for a status: `bad_request`, `content_too_large`, `method_not_allowed`, ….
    static func code(for status: HTTPResponse.Status) -> String {
        status.reasonPhrase.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.reduce(into: "") { $0.append($1) }
    }
}
