import Hummingbird
import NIOCore

/// What an HTTP handler knows of its request beyond the request itself: Hummingbird's core
/// context and the peer's address (the admin API slows down addresses that keep presenting a
/// wrong token, see ``AdminAccess``).
struct SwitchboardRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address as text (`unknown` for a Unix socket).
    var sourceAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
