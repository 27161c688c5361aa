import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// Who may use the admin API: holds the token once the listener is bound (a generated token's
/// state file is named after the bound port).
public final class AdminAccess: Sendable {
    private let token = NIOLockedValueBox<AdminToken?>(nil)

    public init() {}

    public func set(_ value: AdminToken) {
        token.withLockedValue { $0 = value }
    }

    public var current: AdminToken? { token.withLockedValue { $0 } }

    /// Whether a request carries the token: an `Authorization: Bearer …` header, or else a
    /// `?token=` query value (given only for the admin stream: browsers cannot set WebSocket headers).
    func authorizes(authorization: String?, queryToken: Substring?) -> Bool {
        guard let token = current else { return false }
        if let authorization, authorization.lowercased().hasPrefix("bearer ") {
            return token.matches(authorization.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces))
        }
        if let queryToken { return token.matches(queryToken) }
        return false
    }
}

/// Rejects every request without the admin token with 401 and a JSON error.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: AdminAccess

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard access.authorizes(authorization: request.headers[.authorization], queryToken: nil) else {
            return HTTPRoutes.json(
                .unauthorized,
                HTTPRoutes.errorBody("unauthorized", "missing or wrong admin token; send Authorization: Bearer <token>"),
                extra: [.wwwAuthenticate: "Bearer realm=\"switchboard\""]
            )
        }
        return try await next(request, context)
    }
}
