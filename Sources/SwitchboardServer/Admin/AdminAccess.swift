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

    /// Whether a request presents the admin token (see ``PresentedToken``).
    func authorizes(_ presented: Substring?) -> Bool {
        guard let token = current, let presented else { return false }
        return token.matches(presented)
    }
}

/// The bearer token a request presents: an `Authorization: Bearer …` header, or else a `?token=`
/// query value (looked at only for WebSocket handshakes: browsers cannot set their headers).
enum PresentedToken {
    static func find(authorization: String?, uri: String? = nil) -> Substring? {
        if let authorization, authorization.lowercased().hasPrefix("bearer ") {
            return Substring(authorization.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces))
        }
        guard let uri, let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("token=") {
            return pair.dropFirst("token=".count)
        }
        return nil
    }
}

/// Rejects every request without the admin token with 401 and a JSON error.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: AdminAccess

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard access.authorizes(PresentedToken.find(authorization: request.headers[.authorization])) else {
            return APIError(
                .unauthorized, code: "unauthorized", "missing or wrong admin token; send Authorization: Bearer <token>",
                headers: [.wwwAuthenticate: "Bearer realm=\"switchboard\""]
            ).response
        }
        return try await next(request, context)
    }
}
