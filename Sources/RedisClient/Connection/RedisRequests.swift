public import NIOCore

/// What an engine asks of Redis, whichever the topology: one server or the master Sentinel names
/// (``RedisConnection``), or a Redis Cluster (``RedisClusterClient``, which routes each command
/// by the hash slot of its key).
public protocol RedisRequests: AnyObject, Sendable {
    /// The loop the replies' futures complete on.
    var eventLoop: any EventLoop { get }
    /// Whether requests can be carried out right now.
    var isUp: Bool { get }
    /// Requests sent and not yet answered.
    var pending: Int { get }

    /// Starts connecting; requests succeed once ready.
    func start()
    /// Closes every connection for good; pending requests fail.
    func stop() async
    /// Loads `script` wherever commands may go (now, and on every connection made later).
    func register(_ script: RedisScript)
    /// Calls `handler` on ``eventLoop`` each time requests can be carried out again.
    func onReady(_ handler: @escaping @Sendable () -> Void)
    /// Calls `handler` on ``eventLoop`` each time they no longer can, with why.
    func onLost(_ handler: @escaping @Sendable (String) -> Void)
    /// Sends one command (`["SET", key, value]`); its reply, or why there is none. A `durable`
    /// request succeeds only once the configured replicas have it.
    func send(_ parts: [ByteBuffer], durable: Bool) -> EventLoopFuture<RESPValue>
    /// Runs `script` by its SHA-1, loading it again when the server no longer has it.
    func evaluate(_ script: RedisScript, keys: [ByteBuffer], arguments: [ByteBuffer], durable: Bool) -> EventLoopFuture<RESPValue>
}

extension RedisRequests {
    /// Sends one command given as text parts.
    public func send(_ parts: String...) -> EventLoopFuture<RESPValue> {
        send(parts.map { ByteBuffer(string: $0) }, durable: false)
    }

    /// Sends one command that need not reach the replicas.
    public func send(_ parts: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        send(parts, durable: false)
    }

    /// Runs `script`; the result need not reach the replicas.
    public func evaluate(_ script: RedisScript, keys: [ByteBuffer], arguments: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        evaluate(script, keys: keys, arguments: arguments, durable: false)
    }
}
