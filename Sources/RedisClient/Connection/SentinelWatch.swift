public import NIOCore
import NIOConcurrencyHelpers

/// Listens to the sentinels' `+switch-master` announcements for one master, so a failover is
/// followed the moment the sentinels make it, not only once the old master stops answering
/// (a demoted master that stays reachable answers `READONLY` only to writes, and keeps
/// delivering what is published).
///
/// One subscriber connection per sentinel (any one that is up is enough), each kept and
/// re-subscribed like any ``RedisSubscriber``; the same switch heard from several sentinels is
/// reported once.
public final class SentinelWatch: Sendable {
    /// Called on the watch's loop with the old and the new master.
    public typealias SwitchHandler = @Sendable (_ from: RedisAddress.Endpoint, _ to: RedisAddress.Endpoint) -> Void

    public static let channel = "+switch-master"

    private let listeners: [RedisSubscriber]

    /// `address` must name a master through sentinels (``RedisAddress/usesSentinel``); the
    /// connections to the sentinels are named `clientName`.
    public init(
        address: RedisAddress, eventLoop: any EventLoop, requestDeadline: Duration, clientName: String? = nil, onSwitch: @escaping SwitchHandler
    ) {
        let masterName = address.masterName ?? ""
        let lastSwitch = NIOLockedValueBox<RedisAddress.Endpoint?>(nil)
        listeners = address.sentinels.map { sentinel in
            let configuration = RedisConnection.Configuration(
                address: RedisAddress(host: sentinel.host, port: sentinel.port, password: address.sentinelPassword),
                requestDeadline: requestDeadline, clientName: clientName)
            return RedisSubscriber(configuration: configuration, eventLoop: eventLoop) { _, payload in
                guard let (name, from, to) = Self.parse(payload), name == masterName else { return }
                let isNew = lastSwitch.withLockedValue { last in
                    defer { last = to }
                    return last != to
                }
                if isNew { onSwitch(from, to) }
            }
        }
    }

    public func start() {
        for listener in listeners {
            listener.keep(Self.channel)
            listener.start()
        }
    }

    public func stop() async {
        for listener in listeners { await listener.stop() }
    }

    /// `<master-name> <old-ip> <old-port> <new-ip> <new-port>`, as the sentinels publish it.
    static func parse(_ payload: ByteBuffer) -> (name: String, from: RedisAddress.Endpoint, to: RedisAddress.Endpoint)? {
        let words = String(buffer: payload).split(separator: " ").map(String.init)
        guard words.count == 5, let oldPort = Int(words[2]), let newPort = Int(words[4]) else { return nil }
        return (words[0], RedisAddress.Endpoint(host: words[1], port: oldPort), RedisAddress.Endpoint(host: words[3], port: newPort))
    }
}
