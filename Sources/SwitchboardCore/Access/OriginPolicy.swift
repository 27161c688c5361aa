/// Which web pages may open WebSocket connections: the defence against cross-site WebSocket
/// hijacking (a page on another site using a visitor's browser to reach the hub, which on
/// loopback would otherwise be any page the operator opens).
///
/// Browsers always send an `http(s)` `Origin` (or `null`); other clients send none, or one of
/// their own such as `ws://host`, and are not affected. Same-origin
/// pages (the `Origin`'s host and port equal the `Host` header, such as the server's own page) are
/// always let in, as Centrifugo does; the list names the other origins allowed
/// (`https://app.example.com`, compared without regard to case); `*` in the list allows all.
public struct OriginPolicy: Sendable, Equatable {
    /// The allowed cross-site origins, lower-cased.
    public let allowed: [String]
    /// Whether `*` was listed.
    public let allowsAny: Bool

    public init(allowed: [String] = []) {
        let normalized = allowed.map { Self.normalize($0) }.filter { !$0.isEmpty }
        self.allowsAny = normalized.contains("*")
        self.allowed = normalized.filter { $0 != "*" }
    }

    /// Whether a handshake with these `Origin` and `Host` headers may go ahead.
    public func permits(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }  // not a browser
        if allowsAny { return true }
        let normalized = Self.normalize(origin)
        guard normalized == "null" || normalized.hasPrefix("http://") || normalized.hasPrefix("https://") else {
            return true  // not a page's origin: a non-browser client naming itself
        }
        if let host, let authority = Self.authority(of: normalized), authority == host.lowercased() { return true }
        return allowed.contains(normalized)
    }

    /// `scheme://authority` without a trailing slash, lower-cased.
    static func normalize(_ origin: String) -> String {
        var text = origin.trimmingWhitespace().lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// The `host[:port]` of an origin, or nil when it has none (`null`, `file://`).
    static func authority(of origin: String) -> String? {
        let parts = origin.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, !parts[1].contains("/") else { return nil }
        return String(parts[1])
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
