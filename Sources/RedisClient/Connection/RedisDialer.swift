import NIOCore
import NIOPosix

/// Keeps one TCP connection to a Redis server open: dials, and after a failed attempt or a lost
/// connection dials again after a ``Backoff``. Confined to its event loop; its owner (a
/// ``RedisConnection`` or a ``RedisSubscriber``) says what the connection is for.
final class RedisDialer {
    let address: RedisAddress
    let eventLoop: any EventLoop
    private var backoff: Backoff
    private(set) var channel: (any Channel)?
    private var stopped = false
    /// Every value the server sends, in order.
    var onValue: (RESPValue) -> Void = { _ in }
    /// A connection is open (it may still need setting up: `SELECT`, scripts, subscriptions).
    var onUp: (any Channel) -> Void = { _ in }
    /// The connection was lost, or an attempt failed; another follows after the backoff.
    var onDown: (String) -> Void = { _ in }

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

    private func dial() {
        guard !stopped else { return }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPChannelHandler { value in self?.onValue(value) })
                }
            }
        bootstrap.connect(host: address.host, port: address.port).assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let channel):
                guard !self.stopped else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                self.backoff.reset()
                channel.closeFuture.assumeIsolated().whenComplete { [weak self] _ in self?.lost("connection closed") }
                self.onUp(channel)
            case .failure(let error):
                self.onDown("cannot connect to \(self.address): \(error)")
                self.retry()
            }
        }
    }

    private func lost(_ why: String) {
        channel = nil
        onDown(why)
        retry()
    }

    private func retry() {
        guard !stopped else { return }
        let delay = backoff.next()
        eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [weak self] in self?.dial() }
    }
}
