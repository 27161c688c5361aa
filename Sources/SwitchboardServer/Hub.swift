public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import SwitchboardCore
import NIOConcurrencyHelpers
public import Histogram

/// The hub: one ``HubShard`` per event loop, the routing of channels to their owning shard, and
/// the graceful drain at shutdown.
///
/// The hub itself holds no per-message state; everything hot lives in the shards.
public final class Hub: @unchecked Sendable {
    public let configuration: HubConfiguration
    /// Shared allocator for frames built once and sent to many.
    let allocator = ByteBufferAllocator()
    let logger: Logger
    /// Written once in `init`, read-only afterwards.
    private(set) var shards: [HubShard] = []
    private var shardByLoop: [ObjectIdentifier: HubShard] = [:]
    private let nextClientNumber = Atomic<UInt64>(0)
    private let draining = Atomic<Bool>(false)
    /// Places taken by accepted WebSocket handshakes whose channels are still open.
    private let places = Atomic<Int>(0)
    private let startedAt = ContinuousClock.now
    /// Which shard each connected client lives on (changes only on connect and disconnect).
    private let directory = NIOLockedValueBox<[String: HubShard]>([:])
    /// Where lifecycle events go: the metrics collector's mailbox.
    let events: EventMailbox?
    /// Mailboxes of actors outside the shards (admin streams), for the actors pane.
    private let otherGauges = NIOLockedValueBox<[ObjectIdentifier: MailboxGauge]>([:])
    /// `ws://host:port/path`, once the listener is bound.
    private let boundAddress = NIOLockedValueBox("")

    /// Creates a hub with one shard on each loop of `eventLoopGroup`.
    public init(eventLoopGroup: any EventLoopGroup, configuration: HubConfiguration, logger: Logger, events: EventMailbox? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.events = events
        for (index, loop) in eventLoopGroup.makeIterator().enumerated() {
            let shard = HubShard(index: index, eventLoop: loop, hub: self, configuration: configuration, logger: logger)
            shards.append(shard)
            shardByLoop[ObjectIdentifier(loop)] = shard
        }
    }

    /// The shard that owns sessions on `loop`.
    func shard(for loop: any EventLoop) -> HubShard {
        shardByLoop[ObjectIdentifier(loop)] ?? shards[0]
    }

    /// The shard that numbers and fans out `channel`'s messages.
    func owner(of channel: String) -> HubShard {
        shards.count == 1 ? shards[0] : shards[(channel.hashValue & Int.max) % shards.count]
    }

    /// A new client id, unique for the life of the process.
    func makeClientID() -> String {
        let number = nextClientNumber.wrappingAdd(1, ordering: .relaxed).newValue
        return "c" + String(number, radix: 36)
    }

    // MARK: - Admission

    /// Live WebSocket connections, summed from every shard's registry.
    public var connectionCount: Int {
        shards.reduce(0) { $0 + $1.sessionCount.load(ordering: .relaxed) }
    }

    /// Why a new WebSocket connection would be refused right now, if it would.
    public var admissionRefusal: String? {
        if draining.load(ordering: .relaxed) { return "the server is shutting down" }
        if places.load(ordering: .relaxed) >= configuration.maxConnections { return atCapacity }
        return nil
    }

    private var atCapacity: String { "the server is at its limit of \(configuration.maxConnections) connections" }

    /// Takes one of the `maxConnections` places for a handshake about to be accepted, until
    /// `channel` closes; returns why not when there is none (or the server is draining).
    ///
    /// Places are taken atomically at the handshake, not when the session registers after the
    /// 101 is written, so concurrent handshakes on several loops can never exceed the limit.
    func takePlace(until channel: any Channel) -> String? {
        if draining.load(ordering: .relaxed) { return "the server is shutting down" }
        guard places.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maxConnections else {
            places.wrappingSubtract(1, ordering: .relaxed)
            return atCapacity
        }
        channel.closeFuture.whenComplete { _ in self.places.wrappingSubtract(1, ordering: .relaxed) }
        return nil
    }

    /// Adds a session for a freshly upgraded channel. Runs on the channel's loop.
    func makeSession(for channel: any Channel, route: Session.Route, identity: ClientIdentity, deflate: DeflateParameters?, userAgent: String)
        -> Session
    {
        let remote = channel.remoteAddress.map(Self.describe) ?? "unknown"
        return Session(
            id: makeClientID(), shard: shard(for: channel.eventLoop), route: route, identity: identity, deflate: deflate, remoteAddress: remote,
            userAgent: String(userAgent.prefix(256))
        )
    }

    func didConnect(_ id: String, shard: HubShard) {
        directory.withLockedValue { $0[id] = shard }
    }

    func didDisconnect(_ id: String) {
        directory.withLockedValue { _ = $0.removeValue(forKey: id) }
    }

    /// Lists another actor's mailbox among the hub's actors until ``unregister(_:)``.
    func register(_ gauge: MailboxGauge) {
        otherGauges.withLockedValue { $0[ObjectIdentifier(gauge)] = gauge }
    }

    func unregister(_ gauge: MailboxGauge) {
        otherGauges.withLockedValue { _ = $0.removeValue(forKey: ObjectIdentifier(gauge)) }
    }

    /// Records where the server listens, for the dashboard.
    public func setAddress(_ address: String) {
        boundAddress.withLockedValue { $0 = address }
    }

    private static func describe(_ address: SocketAddress) -> String {
        switch address {
        case .v4: "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .v6: "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        case .unixDomainSocket: "unix"
        }
    }

    // MARK: - Statistics

    /// Seconds since the hub started.
    public var uptimeSeconds: Double {
        let elapsed = ContinuousClock.now - startedAt
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Totals from every shard. Gauges (connections, subscriptions, channels, queued frames) are
    /// counted from each shard's live registry on its own loop; counters are the shards' totals.
    public func statistics() async -> Totals {
        var result = Totals()
        var channelNames = Set<String>()
        for shard in shards {
            let (subscriptions, names, queued, traffic) =
                (try? await shard.eventLoop.submit { (shard.subscriptionCount, shard.channelNames, shard.queuedFrames(), shard.traffic) }.get())
                ?? (0, [], 0, Traffic())
            result.subscriptions += subscriptions
            result.mailboxDepth += queued + shard.inboxBacklog
            channelNames.formUnion(names)
            result.connections += shard.sessionCount.load(ordering: .relaxed)
            result.messagesIn += traffic.messagesIn
            result.messagesOut += traffic.messagesOut
            result.bytesIn += traffic.bytesIn
            result.bytesOut += traffic.bytesOut
            result.published += traffic.published
            result.deliveries += traffic.deliveries
            result.connects += traffic.connects
            result.disconnects += traffic.disconnects
            result.slowConsumerCloses += traffic.slowConsumerCloses
        }
        result.channels = channelNames.count
        return result
    }

    /// The outbound mailbox figures of every connected session (for tests and inspection).
    public func sessionMailboxes() async -> [String: MailboxCounts] {
        var result: [String: MailboxCounts] = [:]
        for shard in shards {
            let part = (try? await shard.eventLoop.submit { shard.allSessions.map { ($0.id, $0.gauge.read()) } }.get()) ?? []
            for (id, counts) in part { result[id] = counts }
        }
        return result
    }

    // MARK: - Operator actions

    /// Closes one client with `code` (4000 "kicked" by default). False if there is no such client.
    public func kick(_ id: String, reason: String, code: CloseCode = .kicked) async -> Bool {
        guard let shard = directory.withLockedValue({ $0[id] }) else { return false }
        return (try? await shard.eventLoop.submit { shard.kick(id, code: code, reason: reason) }.get()) ?? false
    }

    /// Closes every client, or every subscriber of `channel`; returns how many were closed.
    public func kickAll(channel: String? = nil, reason: String, code: CloseCode = .kicked) async -> Int {
        var kicked = 0
        for shard in shards {
            kicked += (try? await shard.eventLoop.submit { shard.kickAll(channel: channel, code: code, reason: reason) }.get()) ?? 0
        }
        return kicked
    }

    /// Sends `{"type":"broadcast","data":…,"from":"operator"}` to every client; returns how many.
    /// `data` must be one valid JSON value.
    public func broadcast(data: ByteBuffer) async -> Int {
        let frame = ServerMessage.broadcast(data: data, from: "operator", allocator: allocator)
        var reached = 0
        for shard in shards {
            reached += (try? await shard.eventLoop.submit { shard.broadcast(frame) }.get()) ?? 0
        }
        events?.send(HubEvent(time: WallClock.now(), kind: .broadcast, detail: "to all: \(reached) clients"))
        return reached
    }

    /// Publishes `data` to `channel` as a `message` from `from` (e.g. `api`, `operator`), as if a
    /// client had; returns the sequence number and how many subscribers it reached.
    public func publish(channel: String, data: ByteBuffer, from: String) async -> (seq: UInt64, reached: Int) {
        let owner = owner(of: channel)
        let arrival = NIODeadline.now().uptimeNanoseconds
        guard
            let (seq, local) = try? await owner.eventLoop.submit({ owner.fanOut(channel: channel, data: data, from: from, receivedAt: arrival) })
                .get()
        else {
            return (0, 0)
        }
        var reached = local
        for shard in shards where shard !== owner {
            reached += (try? await shard.eventLoop.submit { shard.subscriberCount(of: channel) }.get()) ?? 0
        }
        return (seq, reached)
    }

    // MARK: - Shutdown

    /// Whether graceful shutdown has begun (new clients and new publishes are refused).
    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Graceful drain: refuse new clients and new publishes, finish delivering every publish
    /// already accepted (acked), tell every client to go (1001 "going away") after what is queued
    /// for it, and wait up to `shutdownDeadline` for them to leave; whoever is left then is
    /// disconnected.
    public func drain() async {
        guard !draining.exchange(true, ordering: .relaxed) else { return }
        events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: "draining: shutdown requested"))
        let connected = connectionCount
        logger.info("draining", metadata: ["connections": "\(connected)", "deadline_s": "\(configuration.shutdownDeadline)"])
        // Three rounds over every loop: after the first, every accepted publish sits in its
        // owner's inbox; after the second, owners have fanned them out to the other shards; after
        // the third, those deliveries (and acks) are in the sessions' mailboxes.
        for _ in 0..<3 {
            for shard in shards { try? await shard.eventLoop.submit {}.get() }
        }
        for shard in shards {
            shard.eventLoop.execute {
                shard.stopHeartbeat()
                for session in shard.allSessions {
                    session.close(.goingAway, "going away", discardQueued: false)
                }
            }
        }
        let deadline = ContinuousClock.now + configuration.shutdownDeadline
        while connectionCount > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = connectionCount
        if left > 0 {
            logger.warning("shutdown deadline passed; closing remaining clients", metadata: ["connections": "\(left)"])
            for shard in shards {
                try? await shard.eventLoop.submit { for session in shard.allSessions { session.forceClose() } }.get()
            }
        }
    }
}

/// The metrics collector's view of the hub: everything is read from the shards' live state, on
/// their own loops.
extension Hub: HubProbe {
    public var address: String { boundAddress.withLockedValue { $0 } }

    public var health: String { draining.load(ordering: .relaxed) ? "draining" : "ok" }

    /// Runs `body` on every shard's loop and collects the results.
    private func gather<T: Sendable>(_ body: @escaping @Sendable (HubShard) -> T) async -> [T] {
        var results: [T] = []
        for shard in shards {
            if let value = try? await shard.eventLoop.submit({ body(shard) }).get() { results.append(value) }
        }
        return results
    }

    public func totals() async -> Totals {
        await statistics()
    }

    public func clientCounters() async -> [ClientCounter] {
        (await gather { $0.clientCounters() }).flatMap { $0 }
    }

    public func clientRows() async -> [ClientRow] {
        (await gather { $0.clientRows() }).flatMap { $0 }
    }

    public func channelRows() async -> [ChannelRow] {
        var subscribers: [String: Int] = [:]
        var published: [String: Int] = [:]
        for part in await gather({ $0.channelCounts() }) {
            subscribers.merge(part.subscribers, uniquingKeysWith: +)
            published.merge(part.published, uniquingKeysWith: +)
        }
        return subscribers.map { ChannelRow(name: $0.key, subscribers: $0.value, messageRate: 0, published: published[$0.key] ?? 0) }
    }

    public func actorRows() async -> [ActorRow] {
        var rows = shards.map { shard in
            let counts = shard.inboxGauge.read()
            return ActorRow(
                name: shard.inboxGauge.name, kind: shard.inboxGauge.kind, depth: shard.inboxBacklog, peak: counts.peak,
                capacity: shard.inboxGauge.capacity, processedPerSecond: 0, processed: counts.dequeued, dropped: counts.dropped, restarts: 0
            )
        }
        for gauge in otherGauges.withLockedValue({ Array($0.values) }) {
            let counts = gauge.read()
            rows.append(
                ActorRow(
                    name: gauge.name, kind: gauge.kind, depth: counts.depth, peak: counts.peak, capacity: gauge.capacity,
                    processedPerSecond: 0, processed: counts.dequeued, dropped: counts.dropped, restarts: 0
                )
            )
        }
        return rows
    }

    public func takeLatencies() async -> Histogram<UInt64> {
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
        for part in await gather({ $0.takeLatencies() }) { merged.add(part) }
        return merged
    }
}
