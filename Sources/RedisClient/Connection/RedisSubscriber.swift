public import NIOCore
import DequeModule
import NIOConcurrencyHelpers
import Synchronization

/// A dedicated pub/sub connection to Redis that keeps its subscriptions.
///
/// It remembers which channels are wanted and subscribes to all of them again after every
/// reconnect. A subscription is confirmed (its future succeeds) only once Redis has said
/// `subscribe` for it, so a publish anywhere after that reaches this connection. It pings itself
/// every `probeInterval` and drops a connection that answered nothing for `requestDeadline`: a
/// subscriber connection that is open but no longer delivers is dialed again rather than trusted.
///
/// Subscribes and unsubscribes asked for in one event-loop tick are written together at its end,
/// as few commands as can carry them: one `SUBSCRIBE` for all the channels, or in sharded mode
/// one `SSUBSCRIBE` per hash slot (Redis refuses channels of several slots in one), so the
/// channels of one slot (a partition) are subscribed again with one command after a reconnect.
///
/// In sharded mode (for ``RedisShardedSubscriber``, one per cluster master) it uses `SSUBSCRIBE`,
/// `SUNSUBSCRIBE` and `smessage`, and reports a channel the server will not keep for it (an
/// error such as `MOVED`, or a `sunsubscribe` it did not ask for: the slot moved away, the
/// master was demoted) to ``onEvicted`` after forgetting it.
public final class RedisSubscriber: @unchecked Sendable {
    /// What arrives on a subscribed channel, on the subscriber's loop.
    public typealias MessageHandler = @Sendable (_ channel: ByteBuffer, _ payload: ByteBuffer) -> Void

    public let configuration: RedisConnection.Configuration
    public let eventLoop: any EventLoop
    /// How often an idle connection is asked for a `PING`.
    public let probeInterval: Duration
    private let dialer: RedisDialer
    private let onMessage: MessageHandler
    private let up = Atomic<Bool>(false)
    private let reconnectCount = Atomic<Int>(0)
    private let resubscribeHandlers = NIOLockedValueBox<[@Sendable ([String]) -> Void]>([])
    private let upDownHandlers = NIOLockedValueBox<[@Sendable (Bool) -> Void]>([])
    private let sharded: Bool
    /// Called on the loop with a channel the server dropped, and why (sharded mode).
    var onEvicted: (_ channel: String, _ why: String) -> Void = { _, _ in }

    // Loop-confined.
    private var wanted = Set<String>()
    private var confirmed = Set<String>()
    private var waiters: [String: [EventLoopPromise<Void>]] = [:]
    /// `SUBSCRIBE`s sent per channel and not yet confirmed: a channel is confirmed by the reply
    /// to its latest `SUBSCRIBE` (an earlier one may precede an `UNSUBSCRIBE`).
    private var unconfirmed: [String: Int] = [:]
    private var lastHeard = NIODeadline.now()
    private var probe: RepeatedTask?
    private var connections = 0
    /// Subscribes (true) and unsubscribes (false) asked for in this tick, in order, to be
    /// written at its end.
    private var outbox: [(channel: String, subscribing: Bool)] = []
    /// Sharded mode: the `SSUBSCRIBE`s (true) and `SUNSUBSCRIBE`s (false) not yet answered, in
    /// order, each with its channels whose answer has not come yet (one answer per channel, in
    /// the command's order): to tell an error's channels, and an answer from an eviction.
    private var unanswered = Deque<(channels: ArraySlice<String>, subscribing: Bool)>()

    public convenience init(
        configuration: RedisConnection.Configuration, eventLoop: any EventLoop, probeInterval: Duration = .seconds(1),
        onMessage: @escaping MessageHandler
    ) {
        self.init(configuration: configuration, eventLoop: eventLoop, probeInterval: probeInterval, sharded: false, onMessage: onMessage)
    }

    init(
        configuration: RedisConnection.Configuration, eventLoop: any EventLoop, probeInterval: Duration, sharded: Bool,
        onMessage: @escaping MessageHandler
    ) {
        self.sharded = sharded
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.probeInterval = probeInterval
        self.onMessage = onMessage
        self.dialer = RedisDialer(address: configuration.address, eventLoop: eventLoop, backoff: Backoff(maximum: configuration.maximumBackoff))
        dialer.onValue = { [weak self] value in self?.received(value) }
        dialer.onUp = { [weak self] channel in self?.connected(channel) }
        dialer.onDown = { [weak self] _ in self?.disconnected() }
    }

    public func start() {
        eventLoop.execute { self.dialer.start() }
    }

    /// Moves to `master` when connected elsewhere (the sentinels announced a failover).
    public func follow(_ master: RedisAddress.Endpoint) {
        eventLoop.execute { self.dialer.follow(master) }
    }

    public func stop() async {
        try? await eventLoop.submit { self.dialer.stop() }.get()
    }

    /// Whether the connection is open and answering.
    public var isUp: Bool { up.load(ordering: .relaxed) }

    /// Connections made after the first.
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }

    /// Calls `handler` on the loop after a reconnect, with the channels subscribed again: what
    /// was published on them while the connection was down was missed.
    public func onResubscribe(_ handler: @escaping @Sendable ([String]) -> Void) {
        resubscribeHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the loop each time the connection comes up (true) or is lost (false).
    public func onUpDown(_ handler: @escaping @Sendable (Bool) -> Void) {
        upDownHandlers.withLockedValue { $0.append(handler) }
    }

    /// Subscribes to `channel` (kept across reconnects until ``unsubscribe(_:)``); succeeds once
    /// Redis has confirmed it, fails at once with ``RedisError/unavailable(_:)`` while there is
    /// no connection (the channel is then not kept).
    public func subscribe(_ channel: String) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            if self.confirmed.contains(channel) { return self.eventLoop.makeSucceededVoidFuture() }
            guard self.isUp, self.dialer.channel != nil else {
                return self.eventLoop.makeFailedFuture(RedisError.unavailable("the subscriber connection is down"))
            }
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.waiters[channel, default: []].append(promise)
            if self.wanted.insert(channel).inserted { self.sendSubscribe(channel) }
            return promise.futureResult
        }
    }

    /// Keeps `channel` subscribed from now on (now if connected, and after every reconnect)
    /// without waiting for Redis to confirm it: for channels a node always listens on.
    public func keep(_ channel: String) {
        eventLoop.execute {
            guard self.wanted.insert(channel).inserted, self.isUp, self.dialer.channel != nil else { return }
            self.sendSubscribe(channel)
        }
    }

    /// Stops receiving `channel`.
    public func unsubscribe(_ channel: String) {
        eventLoop.execute {
            guard self.wanted.remove(channel) != nil else { return }
            self.confirmed.remove(channel)
            for waiter in self.waiters.removeValue(forKey: channel) ?? [] { waiter.fail(RedisError.unavailable("unsubscribed")) }
            guard self.dialer.channel != nil else { return }
            self.enqueue(channel, subscribing: false)
        }
    }

    /// Stops keeping `channel` without telling the server (sharded mode: its slot is served
    /// elsewhere now, and this server dropped it or will); a subscribe waiting for it fails.
    func forget(_ channel: String) {
        eventLoop.assertInEventLoop()
        guard wanted.remove(channel) != nil else { return }
        confirmed.remove(channel)
        for waiter in waiters.removeValue(forKey: channel) ?? [] { waiter.fail(RedisError.reply("its slot is served by another master")) }
    }

    private func sendSubscribe(_ channel: String) {
        unconfirmed[channel, default: 0] += 1
        enqueue(channel, subscribing: true)
    }

    /// Writes `channel`'s subscribe or unsubscribe at the end of this tick, with the others
    /// asked for meanwhile.
    private func enqueue(_ channel: String, subscribing: Bool) {
        if outbox.isEmpty { eventLoop.execute { self.flush() } }
        outbox.append((channel, subscribing))
    }

    /// Writes this tick's subscribes and unsubscribes in their order, each run of one kind as
    /// few commands as can carry it.
    private func flush() {
        let batch = outbox
        outbox.removeAll()
        guard let connection = dialer.channel, !batch.isEmpty else { return }
        var bytes = ByteBuffer()
        var start = batch.startIndex
        while start < batch.endIndex {
            let subscribing = batch[start].subscribing
            let end = batch[start...].firstIndex { $0.subscribing != subscribing } ?? batch.endIndex
            encode(batch[start..<end].map(\.channel), subscribing: subscribing, into: &bytes)
            start = end
        }
        connection.writeAndFlush(bytes, promise: nil)
    }

    /// Encodes a subscribe (or unsubscribe) of `channels`: one command, or in sharded mode one
    /// per hash slot, the channels of one `SSUBSCRIBE` having to share a slot.
    private func encode(_ channels: [String], subscribing: Bool, into bytes: inout ByteBuffer) {
        let verb = (sharded ? "S" : "") + (subscribing ? "SUBSCRIBE" : "UNSUBSCRIBE")
        for group in sharded ? Self.bySlot(channels) : [channels] where !group.isEmpty {
            if sharded { unanswered.append((group[...], subscribing)) }
            RESPEncoder.command([verb] + group, into: &bytes)
        }
    }

    /// `channels` grouped by hash slot, the groups in the order of their first channel.
    static func bySlot(_ channels: [String]) -> [[String]] {
        var slots: [Int] = []
        var groups: [Int: [String]] = [:]
        for channel in channels {
            let slot = RedisSlot.of(channel)
            if groups[slot] == nil { slots.append(slot) }
            groups[slot, default: []].append(channel)
        }
        return slots.map { groups[$0] ?? [] }
    }

    private func write(_ parts: [String], on channel: any Channel) {
        var bytes = ByteBuffer()
        RESPEncoder.command(parts, into: &bytes)
        channel.writeAndFlush(bytes, promise: nil)
    }

    // MARK: - The connection's life (loop only)

    private func received(_ value: RESPValue) {
        lastHeard = .now()
        if sharded, case .error(let message) = value, let refused = unanswered.popFirst() {
            if refused.subscribing {
                for channel in refused.channels { evict(channel, why: String(buffer: message)) }
            }
            return
        }
        guard let parts = value.elements, let kind = parts.first?.string else { return }
        switch kind {
        case "message", "smessage":
            guard parts.count == 3, case .bulkString(let channel?) = parts[1], case .bulkString(let payload?) = parts[2] else { return }
            onMessage(channel, payload)
        case "sunsubscribe":
            guard parts.count >= 2, let channel = parts[1].string else { return }
            if let head = unanswered.first, !head.subscribing, head.channels.first == channel {
                answeredOne()
            } else {
                evict(channel, why: "the server unsubscribed it: its slot moved, or the master was demoted")
            }
        case "subscribe", "ssubscribe":
            if sharded, unanswered.first?.subscribing == true { answeredOne() }
            guard parts.count >= 2, let channel = parts[1].string, let sent = unconfirmed[channel] else { return }
            guard sent == 1 else {
                unconfirmed[channel] = sent - 1
                return
            }
            unconfirmed.removeValue(forKey: channel)
            guard wanted.contains(channel) else { return }
            confirmed.insert(channel)
            for waiter in waiters.removeValue(forKey: channel) ?? [] { waiter.succeed() }
        default:
            break  // unsubscribe confirmations, pong
        }
    }

    /// The next channel of the oldest unanswered command (sharded mode) was answered.
    private func answeredOne() {
        unanswered[0].channels.removeFirst()
        if unanswered[0].channels.isEmpty { unanswered.removeFirst() }
    }

    /// The server dropped or refused `channel` while it was wanted: forgotten, and reported.
    private func evict(_ channel: String, why: String) {
        guard wanted.contains(channel) else { return }
        forget(channel)
        onEvicted(channel, why)
    }

    private func connected(_ channel: any Channel) {
        connections += 1
        lastHeard = .now()
        up.store(true, ordering: .relaxed)
        for handler in upDownHandlers.withLockedValue({ $0 }) { handler(true) }
        let channels = wanted.sorted()
        unconfirmed.removeAll()
        unanswered.removeAll()
        // Everything wanted is subscribed below: what this tick asked for before is in it.
        outbox.removeAll()
        for channel in channels { unconfirmed[channel] = 1 }
        var bytes = ByteBuffer()
        // Named, so that `CLIENT LIST` tells an operator whose connection it is (the answer, a
        // plain `OK`, is not a push and is passed over).
        if let name = configuration.clientName { RESPEncoder.command(["CLIENT", "SETNAME", name], into: &bytes) }
        encode(channels, subscribing: true, into: &bytes)
        if bytes.readableBytes > 0 { channel.writeAndFlush(bytes, promise: nil) }
        if connections > 1 {
            reconnectCount.wrappingAdd(1, ordering: .relaxed)
            for handler in resubscribeHandlers.withLockedValue({ $0 }) { handler(channels) }
        }
        probe?.cancel()
        probe = eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(probeInterval), delay: TimeAmount(probeInterval)) {
            [weak self] _ in self?.check(channel)
        }
    }

    /// Pings the connection; drops it when nothing at all was heard for the request deadline.
    private func check(_ channel: any Channel) {
        if NIODeadline.now() - lastHeard > TimeAmount(configuration.requestDeadline) + TimeAmount(probeInterval) {
            dialer.drop()
            return
        }
        write(["PING"], on: channel)
    }

    private func disconnected() {
        if up.exchange(false, ordering: .relaxed) {
            for handler in upDownHandlers.withLockedValue({ $0 }) { handler(false) }
        }
        confirmed.removeAll()
        probe?.cancel()
        probe = nil
        unconfirmed.removeAll()
        unanswered.removeAll()
        outbox.removeAll()
        // The channels stay wanted (their owner releases them); only the waiting subscribes fail.
        let pending = waiters
        waiters.removeAll()
        for promise in pending.values.joined() { promise.fail(RedisError.unavailable("the subscriber connection was lost")) }
    }
}
