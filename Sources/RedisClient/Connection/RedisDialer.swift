import NIOCore
import NIOPosix

/// Keeps one TCP connection to a Redis server open: dials, and after a failed attempt or a lost
/// connection dials again after a ``Backoff``. With Sentinel every dial asks the sentinels for
/// the master first and checks its `ROLE` after connecting, so a failover is followed by the
/// next dial; with a password it sends `AUTH` before the owner's first command. Confined to its event loop; its owner (a
/// ``RedisConnection`` or a ``RedisSubscriber``) says what the connection is for.
final class RedisDialer {
    let address: RedisAddress
    let eventLoop: any EventLoop
    private var backoff: Backoff
    private(set) var channel: (any Channel)?
    /// The server `channel` is connected to.
    private(set) var endpoint: RedisAddress.Endpoint?
    private var stopped = false
    /// Every value the server sends, in order.
    var onValue: (RESPValue) -> Void = { _ in }
    /// A connection is open (it may still need setting up: `SELECT`, scripts, subscriptions).
    var onUp: (any Channel) -> Void = { _ in }
    /// The connection was lost, or an attempt failed; another follows after the backoff.
    var onDown: (String) -> Void = { _ in }
    /// Replies the dialer itself waits for (`AUTH`, `ROLE`) before the owner gets the connection.
    private var greeting: [EventLoopPromise<RESPValue>] = []
    /// Why the server was turned down after connecting, for ``onDown``.
    private var refused: String?
    /// The sentinel that named the master last: asked first next time.
    private var answeringSentinel = 0

    init(address: RedisAddress, eventLoop: any EventLoop, backoff: Backoff) {
        self.address = address
        self.eventLoop = eventLoop
        self.backoff = backoff
    }

    func start() {
        eventLoop.assertInEventLoop()
        dial()
    }

    /// Closes the connection for good.
    func stop() {
        eventLoop.assertInEventLoop()
        stopped = true
        channel?.close(promise: nil)
    }

    /// Drops the connection (a missed deadline, a silent subscriber): a new one is dialed.
    func drop() {
        channel?.close(promise: nil)
    }

    /// The sentinels named `master` as the new master: a connection to another server is
    /// dropped, and the next dial asks the sentinels (which now name it).
    func follow(_ master: RedisAddress.Endpoint) {
        eventLoop.assertInEventLoop()
        guard let endpoint, endpoint != master else { return }
        refused = "the sentinels switched the master from \(endpoint) to \(master)"
        drop()
    }

    private func dial() {
        guard !stopped else { return }
        master().assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let endpoint): self.connect(to: endpoint)
            case .failure(let error):
                self.onDown("\(error)")
                self.retry()
            }
        }
    }

    private func connect(to endpoint: RedisAddress.Endpoint) {
        guard !stopped else { return }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPChannelHandler { value in self?.received(value) })
                }
            }
        bootstrap.connect(host: endpoint.host, port: endpoint.port).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let channel):
                guard !self.stopped else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                self.endpoint = endpoint
                channel.closeFuture.assumeIsolated().whenComplete { [weak self] _ in self?.lost("connection to \(endpoint) closed") }
                self.greet(channel, at: endpoint)
            case .failure(let error):
                self.onDown("cannot connect to \(endpoint): \(error)")
                self.retry()
            }
        }
    }

    /// Authenticates (`AUTH`) and, with Sentinel, checks that the server is still the master
    /// (`ROLE`: a failover may have demoted it since the sentinels answered) before the owner
    /// gets the connection; otherwise closes it, and the next dial asks the sentinels again.
    private func greet(_ channel: any Channel, at endpoint: RedisAddress.Endpoint) {
        var commands: [[String]] = []
        if let password = address.password { commands.append(["AUTH"] + (address.username.map { [$0] } ?? []) + [password]) }
        if address.usesSentinel { commands.append(["ROLE"]) }
        guard !commands.isEmpty else {
            backoff.reset()
            return onUp(channel)
        }
        var bytes = ByteBuffer()
        var replies: [EventLoopFuture<RESPValue>] = []
        for command in commands {
            RESPEncoder.command(command, into: &bytes)
            let promise = eventLoop.makePromise(of: RESPValue.self)
            greeting.append(promise)
            replies.append(promise.futureResult)
        }
        channel.writeAndFlush(bytes, promise: nil)
        EventLoopFuture.whenAllComplete(replies, on: eventLoop).assumeIsolated().whenSuccess { [weak self] results in
            guard let self, self.channel === channel else { return }
            let answers = results.compactMap { try? $0.get() }
            if let refusal = answers.first(where: { if case .error = $0 { true } else { false } }) {
                self.refused = "\(endpoint) refused the connection: \(refusal.string ?? "an error")"
            } else if self.address.usesSentinel, answers.last?.elements?.first?.string != "master" {
                self.refused = "\(endpoint) is no longer the master of \(self.address.masterName ?? ""); asking the sentinels again"
            } else if answers.count == commands.count {
                self.backoff.reset()
                return self.onUp(channel)
            }
            channel.close(promise: nil)
        }
    }

    /// Hands a value to the greeting waiting for it, else to the owner.
    private func received(_ value: RESPValue) {
        if greeting.isEmpty { return onValue(value) }
        greeting.removeFirst().succeed(value)
    }

    /// The server to connect to: the address's own, or the master the sentinels name.
    private func master() -> EventLoopFuture<RedisAddress.Endpoint> {
        guard address.usesSentinel, let name = address.masterName else {
            return eventLoop.makeSucceededFuture(RedisAddress.Endpoint(host: address.host, port: address.port))
        }
        return askSentinels(for: name, tried: 0, failures: [])
    }

    /// Asks the sentinels in turn, starting with the one that answered last.
    private func askSentinels(for name: String, tried: Int, failures: [String]) -> EventLoopFuture<RedisAddress.Endpoint> {
        let sentinels = address.sentinels
        guard tried < sentinels.count else {
            return eventLoop.makeFailedFuture(
                RedisError.unavailable("no sentinel named a master for \(name): " + failures.joined(separator: "; ")))
        }
        let index = (answeringSentinel + tried) % sentinels.count
        let loop = eventLoop
        return SentinelQuestion.master(named: name, of: sentinels[index], password: address.sentinelPassword, on: eventLoop)
            .flatMapError { [weak self] error in
                guard let self else { return loop.makeFailedFuture(error) }
                return self.askSentinels(for: name, tried: tried + 1, failures: failures + ["\(sentinels[index]): \(error)"])
            }
            .map { [weak self] endpoint in
                self?.answeringSentinel = index
                return endpoint
            }
    }

    private func lost(_ why: String) {
        channel = nil
        endpoint = nil
        for promise in greeting { promise.fail(RedisError.noReply(why)) }
        greeting.removeAll()
        onDown(refused ?? why)
        refused = nil
        retry()
    }

    private func retry() {
        guard !stopped else { return }
        let delay = backoff.next()
        eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [weak self] in self?.dial() }
    }
}
