import NIOCore
import SwitchboardCore

/// What becomes of a connection at its expiry when the connect proxy accepted it: the refresh
/// proxy is asked (`proxy-refresh-url`). Its `expire_at` extends the connection; an `error`, a
/// `disconnect`, or no refresh URL at all close it with 4003 "expired" (a `disconnect` with its
/// own code and reason). When the backend gives no usable answer (slow, down, 5xx, its circuit
/// open) the connection is asked about again after `refresh-grace`, so a backend blip does not
/// close every connection whose time came during it. Connections that brought a token refresh
/// it themselves (``AskTheClient``).
struct ProxyRefresher: ExpiryRefresher {
    let proxy: ApplicationProxy
    let retryAfter: Duration

    func connectionExpired(client: String, identity: ClientIdentity, on eventLoop: any EventLoop) -> EventLoopFuture<ExpiryDecision> {
        guard identity.proxied != nil else { return eventLoop.makeSucceededFuture(.askClient) }
        guard proxy.configuration.refreshURL != nil else { return eventLoop.makeSucceededFuture(.close(.expired, "expired")) }
        let retry = retryAfter
        return eventLoop.makeFutureWithTask {
            switch await proxy.refresh(client: client, user: identity.user) {
            case .granted(let expireAt): .extend(until: Double(expireAt))
            case .refused: .close(.expired, "expired")
            case .disconnect(let code, let reason): .close(CloseCode(rawValue: code) ?? .expired, reason)
            case .failed:
                .extend(until: WallClock.now() + Double(retry.components.seconds) + Double(retry.components.attoseconds) / 1e18)
            }
        }
    }
}
