/// Where a Redis server listens: `redis://HOST:PORT[/DB]`.
public struct RedisAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The logical database selected after connecting (`SELECT`); 0 is Redis's default.
    public var database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    /// Why a URL does not name a Redis server.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Parses `redis://HOST[:PORT][/DB]`; the port defaults to 6379, the database to 0.
    public init(url: String) throws(Invalid) {
        guard url.hasPrefix("redis://") else {
            throw Invalid(description: "expected redis://HOST:PORT[/DB], got \(url.debugDescription)")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let text = rest[rest.index(after: slash)...]
            if !text.isEmpty {
                guard let number = Int(text), number >= 0 else { throw Invalid(description: "the database in \(url) must be a number ≥ 0") }
                database = number
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else {
                throw Invalid(description: "the port in \(url) must be a number from 1 to 65535")
            }
            port = number
            host = String(rest[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw Invalid(description: "\(url) names no host") }
        self.init(host: host, port: port, database: database)
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://\(shownHost):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
