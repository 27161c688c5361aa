/// Where a Redis server is: one server (`redis://[USER:PASSWORD@]HOST:PORT[/DB]`), the master
/// that Redis Sentinel names (`redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]`),
/// asked of the sentinels before every connection (see ``RedisDialer``), or a Redis Cluster
/// (`redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]`): seed nodes asked for the slot map
/// (see ``RedisClusterClient``); a cluster has only database 0.
public struct RedisAddress: Sendable, Equatable, CustomStringConvertible {
    /// One `HOST:PORT`.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
    }

    /// The server (with Sentinel: the first sentinel, until a master is known; with a cluster:
    /// the first seed).
    public var host: String
    public var port: Int
    /// The logical database selected after connecting (`SELECT`); 0 is Redis's default.
    public var database: Int
    /// `AUTH` after connecting, when a password is given (with a user: Redis 6 ACL).
    public var username: String?
    public var password: String?
    /// The sentinels to ask for the master named ``masterName``; empty for one server.
    public var sentinels: [Endpoint] = []
    public var masterName: String?
    /// The sentinels' own password (`requirepass` in their configuration), when they have one.
    public var sentinelPassword: String?
    /// The nodes of a Redis Cluster first asked for its slot map; empty unless a cluster.
    public var seeds: [Endpoint] = []

    public init(host: String, port: Int = 6379, database: Int = 0, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    /// Whether the master is found through Sentinel.
    public var usesSentinel: Bool { masterName != nil }

    /// Whether this names a Redis Cluster (through its ``seeds``).
    public var usesCluster: Bool { !seeds.isEmpty }

    /// Why a URL does not name a Redis server.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Parses `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`,
    /// `redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]` or
    /// `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]`; ports default to 6379 (26379 for
    /// sentinels), the database to 0 (the only one a cluster has). User and password may be
    /// percent-encoded.
    public init(url: String) throws(Invalid) {
        let sentinel = url.hasPrefix("redis+sentinel://")
        let cluster = url.hasPrefix("redis+cluster://")
        guard sentinel || cluster || url.hasPrefix("redis://") else {
            throw Invalid(
                description: "expected redis://HOST:PORT[/DB], redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER[/DB] "
                    + "or redis+cluster://HOST:PORT[,HOST:PORT…], got \(url.debugDescription)")
        }
        var rest = Substring(url.drop { $0 != ":" }.dropFirst("://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                username = credentials[..<colon].isEmpty ? nil : Self.percentDecoded(credentials[..<colon])
                password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else {
                password = Self.percentDecoded(credentials)
            }
        }
        var path: [Substring] = []
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...].split(separator: "/", omittingEmptySubsequences: false)
            rest = rest[..<slash]
        }
        var masterName: String?
        if sentinel {
            guard let name = path.first, !name.isEmpty else {
                throw Invalid(description: "\(url) names no master: redis+sentinel://HOST:PORT/MASTER")
            }
            masterName = String(name)
            path.removeFirst()
        }
        guard path.count <= 1 else { throw Invalid(description: "\(url) has more path than [/DB]") }
        var database = 0
        if let text = path.first, !text.isEmpty {
            guard let number = Int(text), number >= 0 else { throw Invalid(description: "the database in \(url) must be a number ≥ 0") }
            database = number
        }
        let endpoints = try rest.split(separator: ",", omittingEmptySubsequences: false).map { text throws(Invalid) in
            try Self.endpoint(text, defaultPort: sentinel ? 26379 : 6379, in: url)
        }
        guard sentinel || cluster || endpoints.count == 1 else {
            throw Invalid(description: "\(url) names several hosts; for Sentinel use redis+sentinel://, for a cluster redis+cluster://")
        }
        guard !cluster || database == 0 else {
            throw Invalid(description: "\(url) selects database \(database), but a Redis Cluster has only database 0")
        }
        self.init(host: endpoints[0].host, port: endpoints[0].port, database: database, username: username, password: password)
        if sentinel {
            self.sentinels = endpoints
            self.masterName = masterName
        }
        if cluster { self.seeds = endpoints }
    }

    private static func endpoint(_ text: Substring, defaultPort: Int, in url: String) throws(Invalid) -> Endpoint {
        var host = String(text)
        var port = defaultPort
        if let colon = text.lastIndex(of: ":"), !(text.hasPrefix("[") && text.hasSuffix("]")) {
            guard let number = Int(text[text.index(after: colon)...]), (1...65535).contains(number) else {
                throw Invalid(description: "the port in \(url) must be a number from 1 to 65535")
            }
            port = number
            host = String(text[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw Invalid(description: "\(url) names no host") }
        return Endpoint(host: host, port: port)
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), let high = utf8.index(index, offsetBy: 1, limitedBy: utf8.endIndex), high < utf8.endIndex,
                let low = utf8.index(index, offsetBy: 2, limitedBy: utf8.endIndex), low < utf8.endIndex,
                let value = UInt8(String(decoding: [utf8[high], utf8[low]], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                index = utf8.index(after: low)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The address without its password (safe to log).
    public var description: String {
        let user = password == nil ? "" : (username ?? "") + ":***@"
        let database = self.database == 0 ? "" : "/\(self.database)"
        if let masterName {
            return "redis+sentinel://\(user)" + sentinels.map(\.description).joined(separator: ",") + "/\(masterName)" + database
        }
        if usesCluster { return "redis+cluster://\(user)" + seeds.map(\.description).joined(separator: ",") }
        return "redis://\(user)" + Endpoint(host: host, port: port).description + database
    }
}
