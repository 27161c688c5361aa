public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import SwitchboardCore

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
    private let startedAt = ContinuousClock.now

    /// Creates a hub with one shard on each loop of `eventLoopGroup`.
    public init(eventLoopGroup: any EventLoopGroup, configuration: HubConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
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
        if connectionCount >= configuration.maxConnections {
            return "the server is at its limit of \(configuration.maxConnections) connections"
        }
        return nil
    }

    /// Adds a session for a freshly upgraded channel. Runs on the channel's loop.
    func makeSession(for channel: any Channel) -> Session {
        let remote = channel.remoteAddress.map(Self.describe) ?? "unknown"
        return Session(id: makeClientID(), shard: shard(for: channel.eventLoop), remoteAddress: remote)
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

    /// Totals from every shard; subscriptions and channels are counted on each shard's loop.
    public func statistics() async -> HubStatistics {
        var result = HubStatistics()
        var channelNames = Set<String>()
        for shard in shards {
            let (subscriptions, names) = (try? await shard.eventLoop.submit { (shard.subscriptionCount, shard.channelNames) }.get()) ?? (0, [])
            result.subscriptions += subscriptions
            channelNames.formUnion(names)
            result.connections += shard.sessionCount.load(ordering: .relaxed)
            let traffic = shard.traffic.read()
            result.messagesIn += traffic.messagesIn
            result.messagesOut += traffic.messagesOut
            result.bytesIn += traffic.bytesIn
            result.bytesOut += traffic.bytesOut
            result.published += traffic.published
            result.deliveries += traffic.deliveries
            result.connects += traffic.connects
            result.disconnects += traffic.disconnects
            result.slowConsumerCloses += traffic.slowConsumerCloses
            result.inboxDepth += shard.inboxBacklog
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

    // MARK: - Shutdown

    /// Graceful drain: refuse new clients, tell every client to go (1001 "going away") after
    /// what is already queued for it, and wait up to `shutdownDeadline` for them to leave;
    /// whoever is left then is disconnected.
    public func drain() async {
        guard !draining.exchange(true, ordering: .relaxed) else { return }
        let connected = connectionCount
        logger.info("draining", metadata: ["connections": "\(connected)", "deadline_s": "\(configuration.shutdownDeadline)"])
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

/// Hub-wide figures at one moment.
public struct HubStatistics: Sendable, Equatable {
    public var connections = 0
    public var subscriptions = 0
    public var channels = 0
    public var connects = 0
    public var disconnects = 0
    public var messagesIn = 0
    public var messagesOut = 0
    public var bytesIn = 0
    public var bytesOut = 0
    public var published = 0
    public var deliveries = 0
    public var slowConsumerCloses = 0
    public var inboxDepth = 0
}
