import NIOCore

/// One question to one Redis Sentinel (a ``RedisQuestion``): which server is the master named
/// `name` (`SENTINEL get-master-addr-by-name`), after `AUTH` when the sentinels have a password.
enum SentinelQuestion {
    static func master(
        named name: String, of sentinel: RedisAddress.Endpoint, password: String?, on eventLoop: any EventLoop
    ) -> EventLoopFuture<RedisAddress.Endpoint> {
        RedisQuestion.ask(["SENTINEL", "get-master-addr-by-name", name], of: sentinel, password: password, on: eventLoop).flatMapThrowing {
            reply in
            guard let parts = reply.elements, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
                throw RedisError.unavailable("it knows no master named \(name)")
            }
            return RedisAddress.Endpoint(host: host, port: port)
        }
    }
}
