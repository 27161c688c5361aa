import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardCore

/// Who may use the admin API: holds the token once the listener is bound (a generated token's
/// state file is named after the bound port), and slows down guessing: an address that presented
/// a wrong or missing token ``AdminLockout/allowedFailures`` times within a minute is answered
/// 429 with `Retry-After` until that minute is over, whatever it presents (see ``AdminLockout``).
public final class AdminAccess: Sendable {
    private let token = NIOLockedValueBox<AdminToken?>(nil)
    private let lockout = NIOLockedValueBox(AdminLockout())

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

    /// Whether a request from `source` presents the admin token; a wrong or missing one counts
    /// against `source`.
    func authorizes(_ presented: Substring?, from source: String) -> Bool {
        if authorizes(presented) { return true }
        let now = Self.monotonicSeconds()
        lockout.withLockedValue { lockout in
            if lockout.trackedSources > 10_000 { lockout.prune(now: now) }
            lockout.failed(source, now: now)
        }
        return false
    }

    /// Seconds until `source` may present a token again, or nil when it may now.
    func lockedOut(_ source: String) -> Int? {
        let now = Self.monotonicSeconds()
        return lockout.withLockedValue { $0.retryAfter(source, now: now) }
    }

    /// What a locked-out address is told.
    static func lockedOutMessage(retryAfter: Int) -> String {
        "too many wrong admin tokens from this address; retry in \(retryAfter) s"
    }

    private static func monotonicSeconds() -> Double {
        Double(NIODeadline.now().uptimeNanoseconds) / 1e9
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
        let source = (context as? any RemoteAddressRequestContext)?.remoteAddress?.ipAddress ?? "unknown"
        if let retryAfter = access.lockedOut(source) {
            return APIError(
                .tooManyRequests, code: "too_many_attempts", AdminAccess.lockedOutMessage(retryAfter: retryAfter),
                headers: [.retryAfter: String(retryAfter)]
            ).response
        }
        guard access.authorizes(PresentedToken.find(authorization: request.headers[.authorization]), from: source) else {
            return APIError(
                .unauthorized, code: "unauthorized", "missing or wrong admin token; send Authorization: Bearer <token>",
                headers: [.wwwAuthenticate: "Bearer realm=\"switchboard\""]
            ).response
        }
        return try await next(request, context)
    }
}
