/// What a Redis Cluster node's error reply says about where, or when, to send a command again.
///
/// Read from the server error a ``RedisError/reply(_:)`` carries (`MOVED 3999 127.0.0.1:6381`);
/// a command refused with any of these was not carried out.
public enum RedisClusterRedirect: Sendable, Equatable {
    /// The slot is served by another master for good: update the map, send it there.
    case moved(slot: Int, to: RedisAddress.Endpoint)
    /// The slot is being migrated and this key is already on the importing master: send it
    /// there once, preceded by `ASKING`; the map is unchanged.
    case ask(slot: Int, to: RedisAddress.Endpoint)
    /// The cluster cannot serve the slot right now (no master for it, a failover under way).
    case clusterDown(String)
    /// A multi-key command met a slot in the middle of a migration: try again shortly.
    case tryAgain(String)

    /// Reads a server error's text; nil for any other error.
    public init?(error message: String) {
        if message.hasPrefix("CLUSTERDOWN") {
            self = .clusterDown(message)
            return
        }
        if message.hasPrefix("TRYAGAIN") {
            self = .tryAgain(message)
            return
        }
        let words = message.split(separator: " ")
        guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]), (0..<RedisSlot.count).contains(slot),
            let colon = words[2].lastIndex(of: ":"), let port = Int(words[2][words[2].index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(words[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        let endpoint = RedisAddress.Endpoint(host: host, port: port)
        self = words[0] == "MOVED" ? .moved(slot: slot, to: endpoint) : .ask(slot: slot, to: endpoint)
    }
}

extension RedisError {
    /// The cluster redirection this error is, if it is one.
    public var clusterRedirect: RedisClusterRedirect? {
        guard case .reply(let message) = self else { return nil }
        return RedisClusterRedirect(error: message)
    }
}
