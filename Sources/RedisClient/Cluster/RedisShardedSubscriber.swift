public import NIOCore
import NIOConcurrencyHelpers
import Synchronization

/// Sharded pub/sub on a Redis Cluster (`SSUBSCRIBE`, `SPUBLISH`): one subscriber connection per
/// master (a ``RedisSubscriber`` in sharded mode), each channel subscribed on the master serving
/// its slot, `smessage`s handed to one callback.
///
/// It follows the slot map (``RedisClusterClient`` explains how it is kept): when a channel's
/// slot moves to another master, when its master is replaced by a promoted replica, or when a
/// server drops a channel by itself (a `sunsubscribe` nobody asked for: the slot moved, the
/// master was demoted), the map is read again and the channel subscribed on its new master;
/// ``onResubscribe(_:)`` then names the channels, whose messages published meanwhile were
/// missed. So it does after a master's connection comes back.
///
/// Channels subscribed at one moment (all of a master's after a reconnect, those of a slot that
/// moved) are subscribed with one `SSUBSCRIBE` per slot: ``RedisSubscriber`` explains how.
public final class RedisShardedSubscriber: @unchecked Sendable {
    public typealias MessageHandler = RedisSubscriber.MessageHandler

    public let configuration: RedisConnection.Configuration
    public let eventLoop: any EventLoop
    /// How often an idle connection is asked for a `PING`.
    public let probeInterval: Duration
    /// How often the slot map is asked for when nothing else asks for it.
    public let refreshInterval: Duration
    private let onMessage: MessageHandler
    private let up = Atomic<Bool>(false)
    /// Reconnects of the subscribers of masters no longer in the map.
    private let formerReconnects = Atomic<Int>(0)
    private let subscriberList = NIOLockedValueBox<[RedisSubscriber]>([])
    private let resubscribeHandlers = NIOLockedValueBox<[@Sendable ([String]) -> Void]>([])
    private let upDownHandlers = NIOLockedValueBox<[@Sendable (Bool) -> Void]>([])

    // Loop-confined.
    private let reader: RedisClusterMapReader
    private var subscribers: [RedisAddress.Endpoint: RedisSubscriber] = [:]
    /// Every channel wanted, and the master it is subscribed on (nil while none serves its slot).
    private var placed: [String: RedisAddress.Endpoint?] = [:]
    /// Channels dropped by their server, to report once subscribed again.
    private var evicted = Set<String>()

    public init(
        configuration: RedisConnection.Configuration, eventLoop: any EventLoop, probeInterval: Duration = .seconds(1),
        refreshInterval: Duration = .seconds(5), onMessage: @escaping MessageHandler
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.probeInterval = probeInterval
        self.refreshInterval = refreshInterval
        self.onMessage = onMessage
        self.reader = RedisClusterMapReader(address: configuration.address, eventLoop: eventLoop)
        reader.onMap = { [weak self] map in self?.follow(map) }
        reader.isHealthy = { [weak self] in self?.isUp ?? true }
    }

    /// Asks for the slot map and connects to every master.
    public func start() {
        eventLoop.execute { self.reader.start(every: self.refreshInterval) }
    }

    public func stop() async {
        let subscribers = try? await eventLoop.submit {
            self.reader.stop()
            defer { self.subscribers.removeAll() }
            return Array(self.subscribers.values)
        }.get()
        for subscriber in subscribers ?? [] { await subscriber.stop() }
    }

    /// Whether every slot has a master and every master's subscriber connection is up.
    public var isUp: Bool { up.load(ordering: .relaxed) }

    /// Whether each master's subscriber connection is up, by the master's address (the masters
    /// of the last slot map read).
    public var mastersUp: [RedisAddress.Endpoint: Bool] {
        let subscribers = subscriberList.withLockedValue { $0 }
        return Dictionary(
            subscribers.map { (RedisAddress.Endpoint(host: $0.configuration.address.host, port: $0.configuration.address.port), $0.isUp) },
            uniquingKeysWith: { first, _ in first })
    }

    /// Connections made after the first, over every master.
    public var reconnects: Int {
        subscriberList.withLockedValue { $0 }.reduce(formerReconnects.load(ordering: .relaxed)) { $0 + $1.reconnects }
    }

    /// Calls `handler` on the loop with channels subscribed again (after a reconnect, or on a
    /// new master): what was published on them meanwhile was missed.
    public func onResubscribe(_ handler: @escaping @Sendable ([String]) -> Void) {
        resubscribeHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the loop each time the subscriber becomes up (true) or stops being up.
    public func onUpDown(_ handler: @escaping @Sendable (Bool) -> Void) {
        upDownHandlers.withLockedValue { $0.append(handler) }
    }

    /// Subscribes to `channel` on the master serving its slot (kept until ``unsubscribe(_:)``);
    /// succeeds once that master has confirmed it, fails with ``RedisError/unavailable(_:)``
    /// while its master's connection is down (the channel is then not kept).
    public func subscribe(_ channel: String) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { self.subscribe(channel, attempt: 0) }
    }

    /// Keeps `channel` subscribed from now on without waiting for a confirmation.
    public func keep(_ channel: String) {
        eventLoop.execute {
            guard self.placed[channel] == nil else { return }
            self.place(channel)?.keep(channel)
        }
    }

    /// Stops receiving `channel`.
    public func unsubscribe(_ channel: String) {
        eventLoop.execute {
            guard let master = self.placed.removeValue(forKey: channel) else { return }
            self.evicted.remove(channel)
            if let master { self.subscribers[master]?.unsubscribe(channel) }
        }
    }

    /// Subscribes on the slot's master; a channel refused there (`MOVED`: the map was stale) is
    /// tried again on its master in a map read after the refusal.
    private func subscribe(_ channel: String, attempt: Int) -> EventLoopFuture<Void> {
        guard let subscriber = place(channel) else {
            placed[channel] = nil
            return eventLoop.makeFailedFuture(RedisError.unavailable("no master is known for the slot of \(channel)"))
        }
        return subscriber.subscribe(channel).flatMapError { error in
            guard case RedisError.reply = error, attempt < 3, self.placed[channel] != nil else {
                if case RedisError.unavailable = error { self.placed[channel] = nil }
                return self.eventLoop.makeFailedFuture(error)
            }
            return self.reader.refresh().flatMap { self.subscribe(channel, attempt: attempt + 1) }
        }
    }

    /// Records `channel` as wanted on the master serving its slot; that master's subscriber.
    private func place(_ channel: String) -> RedisSubscriber? {
        let master = reader.map?.master(ofSlot: RedisSlot.of(channel))
        placed[channel] = .some(master)
        return master.map { subscriber(of: $0) }
    }

    private func subscriber(of master: RedisAddress.Endpoint) -> RedisSubscriber {
        if let known = subscribers[master] { return known }
        let subscriber = RedisSubscriber(
            configuration: configuration.forMaster(at: master), eventLoop: eventLoop, probeInterval: probeInterval, sharded: true,
            onMessage: onMessage)
        subscriber.onEvicted = { [weak self] channel, _ in self?.evicted(channel, from: master) }
        subscriber.onResubscribe { [weak self] channels in self?.resubscribed(channels) }
        subscriber.onUpDown { [weak self] isUp in
            if !isUp { self?.reader.refresh() }
            self?.updateUp()
        }
        subscribers[master] = subscriber
        subscriberList.withLockedValue { $0.append(subscriber) }
        subscriber.start()
        return subscriber
    }

    /// A server dropped `channel`: read the map again, then subscribe it where it is served.
    private func evicted(_ channel: String, from master: RedisAddress.Endpoint) {
        guard placed[channel] == .some(master) else { return }
        evicted.insert(channel)
        reader.refreshSoon()
    }

    /// Follows a new map: subscribers for its masters, channels moved to their slots' masters.
    private func follow(_ map: RedisClusterMap) {
        for master in map.masters { _ = subscriber(of: master) }
        var moved: [String] = []
        for (channel, master) in placed {
            let owner = map.master(ofSlot: RedisSlot.of(channel))
            let dropped = evicted.contains(channel)
            guard owner != master || dropped else { continue }
            if let master, let former = subscribers[master] { former.forget(channel) }
            placed[channel] = .some(owner)
            guard let owner else { continue }
            subscribers[owner]?.keep(channel)
            evicted.remove(channel)
            if master != nil || dropped { moved.append(channel) }
        }
        let masters = Set(map.masters)
        for (endpoint, subscriber) in subscribers where !masters.contains(endpoint) {
            subscribers[endpoint] = nil
            formerReconnects.wrappingAdd(subscriber.reconnects, ordering: .relaxed)
            subscriberList.withLockedValue { $0.removeAll { $0 === subscriber } }
            Task { await subscriber.stop() }
        }
        updateUp()
        if !moved.isEmpty { resubscribed(moved.sorted()) }
    }

    private func resubscribed(_ channels: [String]) {
        for handler in resubscribeHandlers.withLockedValue({ $0 }) { handler(channels) }
    }

    private func updateUp() {
        let nowUp = reader.map?.coversEverySlot == true && subscribers.values.allSatisfy(\.isUp)
        guard up.exchange(nowUp, ordering: .relaxed) != nowUp else { return }
        for handler in upDownHandlers.withLockedValue({ $0 }) { handler(nowUp) }
    }
}
