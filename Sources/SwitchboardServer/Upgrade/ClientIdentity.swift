import SwitchboardCore

/// Who a native-protocol client is, once its token checked out.
///
/// Every session keeps its identity for its whole life, so it stays three words: the grant and
/// the expiry share one, and only an expiring identity pays for a box.
struct ClientIdentity: Sendable {
    /// The token's `sub`; nil when authentication is off.
    var user: String?
    private var terms: Terms

    /// What the token allows and until when.
    private enum Terms: Sendable {
        case unlimited
        case grant(ChannelGrant)
        indirect case expiring(grant: ChannelGrant?, at: Double)
        /// Accepted by the connect proxy: every channel (subject to the subscribe and publish
        /// proxies), until `at` when the backend named an `expire_at`.
        indirect case proxied(ConnectGrant, at: Double?)
    }

    init(user: String?, grant: ChannelGrant?, expiresAt: Double? = nil) {
        self.user = user
        self.terms = Self.terms(grant: grant, expiresAt: expiresAt)
    }

    /// A client the connect proxy accepted: its user (none when the backend answered `""`), its
    /// presence info, server-side channels and expiry.
    init(proxied grant: ConnectGrant) {
        self.user = grant.user.isEmpty ? nil : grant.user
        self.terms = .proxied(grant, at: grant.expireAt.map(Double.init))
    }

    static let anonymous = ClientIdentity(user: nil, grant: nil)

    /// What the connect proxy granted, when the application's backend accepted the client.
    var proxied: ConnectGrant? {
        if case .proxied(let grant, _) = terms { grant } else { nil }
    }

    /// The same client, living on until `until` (nil: for good).
    func extended(until: Double?) -> ClientIdentity {
        var extended = self
        if case .proxied(let grant, _) = terms {
            extended.terms = .proxied(grant, at: until)
        } else {
            extended.terms = Self.terms(grant: grant, expiresAt: until)
        }
        return extended
    }

    /// The token's `channels` claim; nil grants every channel.
    var grant: ChannelGrant? {
        switch terms {
        case .unlimited: nil
        case .grant(let grant): grant
        case .expiring(let grant, _): grant
        case .proxied: nil
        }
    }

    /// When the connection expires (the token's `exp`), in seconds since 1970; nil never.
    var expiresAt: Double? {
        switch terms {
        case .expiring(_, let at): at
        case .proxied(_, let at): at
        case .unlimited, .grant: nil
        }
    }

    /// Whole seconds from `now` until the expiry, as `welcome` and `refreshed` say: at least 0,
    /// and at most about 68 years, whatever far-off `exp` a token names.
    func expiresIn(now: Double) -> Int? {
        expiresAt.map { Int(min(max(0, $0 - now), Double(Int32.max)).rounded(.down)) }
    }

    private static func terms(grant: ChannelGrant?, expiresAt: Double?) -> Terms {
        switch (grant, expiresAt) {
        case (_, let at?): .expiring(grant: grant, at: at)
        case (let grant?, nil): .grant(grant)
        case (nil, nil): .unlimited
        }
    }

    /// Whether this client may subscribe or publish to `channel`.
    func permits(_ channel: String) -> Bool {
        grant?.permits(channel) ?? true
    }

    /// Whether a token names `channel` in its `channels` claim (anonymous clients have no grant).
    func grantsExplicitly(_ channel: String) -> Bool {
        grant?.permits(channel) ?? false
    }
}
