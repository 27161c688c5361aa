/// What `INFO replication` says of a Redis server: its role and, on a master, each replica and
/// how far behind it is — what an operator wants to see of the master a cluster talks to.
public struct ReplicationInfo: Sendable, Equatable {
    /// One replica as its master sees it.
    public struct Replica: Sendable, Equatable {
        public var address: RedisAddress.Endpoint
        /// `online`, `wait_bgsave`, `send_bulk`…
        public var state: String
        /// Seconds since the replica last acknowledged.
        public var lagSeconds: Int
        /// Replication bytes the master sent that the replica has not acknowledged.
        public var behindBytes: Int

        public init(address: RedisAddress.Endpoint, state: String, lagSeconds: Int, behindBytes: Int) {
            self.address = address
            self.state = state
            self.lagSeconds = lagSeconds
            self.behindBytes = behindBytes
        }
    }

    /// `master` or `slave`.
    public var role: String
    public var replicas: [Replica]

    public init(role: String, replicas: [Replica]) {
        self.role = role
        self.replicas = replicas
    }

    /// Reads the text of `INFO replication` (`role:master`, `slave0:ip=…,port=…,state=…,offset=…,lag=…`,
    /// `master_repl_offset:…`); nil when it names no role.
    public init?(info text: String) {
        var fields: [Substring: Substring] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...]
        }
        guard let role = fields["role"] else { return nil }
        let masterOffset = fields["master_repl_offset"].flatMap { Int($0) } ?? 0
        var replicas: [Replica] = []
        for index in 0... {
            guard let entry = fields[Substring("slave\(index)")] else { break }
            var parts: [Substring: Substring] = [:]
            for pair in entry.split(separator: ",") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                parts[pair[..<equals]] = pair[pair.index(after: equals)...]
            }
            guard let host = parts["ip"], let port = parts["port"].flatMap({ Int($0) }) else { continue }
            let offset = parts["offset"].flatMap { Int($0) } ?? masterOffset
            replicas.append(
                Replica(
                    address: RedisAddress.Endpoint(host: String(host), port: port), state: String(parts["state"] ?? "?"),
                    lagSeconds: parts["lag"].flatMap { Int($0) } ?? 0, behindBytes: max(0, masterOffset - offset)))
        }
        self.init(role: String(role), replicas: replicas)
    }

    /// `master, 2 replicas (lag 0 s, 1 s)`, for a one-line summary.
    public var summary: String {
        guard role == "master" else { return role == "slave" ? "replica" : role }
        guard !replicas.isEmpty else { return "master, no replica" }
        let lags = replicas.map { $0.state == "online" ? "\($0.lagSeconds) s" : $0.state }.joined(separator: ", ")
        return "master, \(replicas.count) replica\(replicas.count == 1 ? "" : "s") (lag \(lags))"
    }
}
