public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import SwitchboardCore
import NIOConcurrencyHelpers
public import Histogram
import Foundation

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
    let draining = Atomic<Bool>(false)
    /// Places taken by accepted WebSocket handshakes whose channels are still open.
    private let places = Atomic<Int>(0)
    let startedAt = ContinuousClock.now
    /// Where lifecycle events go: the metrics collector's mailbox.
    let events: EventMailbox?
    /// Mailboxes of actors outside the shards (admin streams), for the actors pane.
    let otherGauges = NIOLockedValueBox<[ObjectIdentifier: MailboxGauge]>([:])
    /// `ws://host:port/path`, once the listener is bound.
    let boundAddress = NIOLockedValueBox("")
    /// The Pusher apps, by key and by id, with their live connection counts.
    let apps: PusherApps
    /// Who is present in each presence channel, for both protocols (clustered: on this node).
    let presence = NIOLockedValueBox(PresenceRegistry())
    /// Webhook delivery, when some Pusher app has webhook URLs.
    let webhooks: WebhookDispatcher?
    /// Where channel state lives: in process, or shared by the nodes of a cluster (see ``Engine``).
    let engine: any Engine
    /// `@node` after each client id when the hub is one node of a cluster, else empty.
    private let clientIDSuffix: String
    /// Client orders shared by the queries that want one at about the same time.
    let clientOrders: ClientOrderCache
    /// The per-address and per-user limits on new connections.
    let gate: ConnectionGate
    /// Checks client tokens at the handshake and in `refresh`, when authentication is on.
    let authenticator: ClientAuthenticator?
    /// Decides what becomes of a connection when its expiry comes.
    let expiryRefresher: any ExpiryRefresher
    /// The application's backend, asked about connections, subscriptions and publishes; nil
    /// (and nothing asked) unless some `proxy-*` URL is set.
    let proxy: ApplicationProxy?
    /// The traces running on this node (see ``trace(_:reader:)``).
    let traces: TraceRegistry

    /// Creates a hub with one shard on each loop of `eventLoopGroup`.
    public init(eventLoopGroup: any EventLoopGroup, configuration: HubConfiguration, logger: Logger, events: EventMailbox? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.events = events
        self.traces = TraceRegistry(limit: configuration.maxTraces)
        self.clientOrders = ClientOrderCache()
        self.authenticator =
            configuration.clientTokens.isEnabled ? ClientAuthenticator(configuration: configuration.clientTokens, logger: logger) : nil
        self.apps = PusherApps(configuration.pusherApps)
        self.webhooks = configuration.pusherApps.contains { !$0.webhooks.isEmpty } ? WebhookDispatcher(logger: logger) : nil
        self.engine = makeEngine(for: configuration, eventLoop: eventLoopGroup.next(), logger: logger)
        self.clientIDSuffix = engine.nodeName.map { "@" + $0 } ?? ""
        self.gate = ConnectionGate(configuration: configuration, reportsUserCounts: engine.nodeName != nil, events: events)
        self.proxy =
            configuration.proxy.isEnabled ? ApplicationProxy(configuration: configuration.proxy, eventLoopGroup: eventLoopGroup, logger: logger) : nil
        self.expiryRefresher = proxy.map { ProxyRefresher(proxy: $0, retryAfter: configuration.refreshGrace) } ?? AskTheClient()
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

    /// A new client number and its id, unique for the life of the process.
    func makeClientID() -> (number: UInt64, id: String) {
        let number = nextClientNumber.wrappingAdd(1, ordering: .relaxed).newValue
        return (number, clientID(of: number))
    }

    /// The id of client `number`: `c` and the number in base 36, so ids in id order are numbers
    /// in numeric order. Clustered, the node's name follows (`c1@node-a`), so ids are unique
    /// across the cluster.
    func clientID(of number: UInt64) -> String {
        "c" + String(number, radix: 36) + clientIDSuffix
    }

    /// A Pusher socket id, `<digits>.<digits>`, unique for the life of the process.
    func makeSocketID() -> String {
        let number = nextClientNumber.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(number).\(UInt32.random(in: 100_000_000...UInt32.max))"
    }

    // MARK: - Presence

    /// Adds one connection of `member` to the presence of `channel`; the engine announces the
    /// join when it is the user's first. Refused when the channel already holds `limit` users.
    ///
    /// Under the presence lock, so the node's joins and leaves of a user reach the engine in the
    /// order they happened.
    func joinPresence(_ member: PresenceMember, channel: String, session: Session, limit: Int) -> PresenceAdmission {
        presence.withLockedValue { registry in
            let outcome = registry.join(member, channel: channel, limit: limit)
            if outcome == .full { return .refused }
            return engine.memberJoined(member, channel: channel, firstOnNode: outcome == .joined, session: session, limit: limit)
        }
    }

    /// Removes one connection of `userID` from the presence of `channel`; the engine announces
    /// the leave when it was the user's last.
    func leavePresence(userID: String, channel: String, session: Session) {
        presence.withLockedValue { registry in
            guard registry.leave(userID: userID, channel: channel) else { return }
            engine.memberLeft(userID, channel: channel, session: session)
        }
    }

    /// The users present in `channel`, in the order they joined.
    func presentMembers(of channel: String) -> [PresenceMember] {
        presence.withLockedValue { $0.members(of: channel) }
    }

    /// How many users are present in `channel`.
    func presentUserCount(of channel: String) -> Int {
        presence.withLockedValue { $0.userCount(of: channel) }
    }

    /// The users present in `channel` on every node, in join order.
    func clusterMembers(of channel: String) async throws(OperatorFailure) -> [PresenceMember] {
        try await engine.members(of: channel, in: self)
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

    /// Serves `channel` as a native-protocol client whose WebSocket handshake has just
    /// completed: no HTTP, no socket, the same session as a real client gets. For driving the hub
    /// in-process (the microbenchmarks run sessions on `EmbeddedChannel`s). Runs on the channel's
    /// loop, which must be one of the hub's.
    package func attachNativeClient(to channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandler(
            makeSession(for: channel, route: .native, identity: .anonymous, deflate: nil, userAgent: "")
        )
    }

    /// Adds a session for a freshly upgraded channel. Runs on the channel's loop.
    func makeSession(
        for channel: any Channel, route: Session.Route, identity: ClientIdentity, deflate: DeflateParameters?, userAgent: String,
        client: (number: UInt64, id: String)? = nil
    ) -> Session {
        let remote = Self.remoteAddress(of: channel)
        let (number, id) = client ?? makeClientID()
        return Session(
            number: number, id: id, shard: shard(for: channel.eventLoop), route: route, identity: identity, deflate: deflate, remoteAddress: remote,
            remoteRank: RemoteAddressRank.of(remote), userAgent: String(userAgent.prefix(256))
        )
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

    /// The peer's address, e.g. `127.0.0.1:51234`.
    static func remoteAddress(of channel: any Channel) -> String {
        guard let address = channel.remoteAddress else { return "unknown" }
        return switch address {
        case .v4: "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .v6: "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        case .unixDomainSocket: "unix"
        }
    }

    // MARK: - Operator actions

    /// Carries out an operator command: the one interpreter behind the admin API, the admin
    /// stream, the local and the attached console and the CLI verbs.
    public func perform(_ command: OperatorCommand) async -> OperatorResult {
        switch command {
        case .broadcast(let data):
            return await reported(
                .broadcast(data: data), here: { await broadcast(data: ByteBuffer(bytes: data)) }, as: { .broadcast(reached: $0, missing: $1) })
        case .publish(let channel, let data, let from, let key):
            let publication = Publication(
                channel: channel, kind: .message(event: nil, user: nil), data: ByteBuffer(bytes: data), from: from, except: nil,
                idempotencyKey: key)
            do {
                let (outcome, reached) = try await publish(publication)
                return .published(channel: channel, seq: outcome.seq, reached: reached, duplicate: outcome.duplicate)
            } catch {
                return .failed(error)
            }
        case .kick(let target, let reason, let reconnect):
            let code: CloseCode = reconnect ? .reconnect : .kicked
            switch target {
            case .client(let id):
                if let elsewhere = await engine.kickElsewhere(id, reason: reason, code: code) { return elsewhere }
                guard await kick(id, reason: reason, code: code) else { return .failed(OperatorFailure(.notFound, "no client \(id)")) }
                return .kicked(1)
            case .user(let user):
                return await reported(
                    .kickUser(.init(user: user, code: code.rawValue, reason: reason)),
                    here: { await kickUser(user, reason: reason, code: code) },
                    as: { .kicked($0, missing: $1) })
            case .channel(let channel):
                return await reported(
                    .kickAll(channel: channel, code: code.rawValue, reason: reason),
                    here: { await kickAll(channel: channel, reason: reason, code: code) },
                    as: { .kicked($0, missing: $1) })
            case .all:
                return await reported(
                    .kickAll(channel: nil, code: code.rawValue, reason: reason),
                    here: { await kickAll(reason: reason, code: code) },
                    as: { .kicked($0, missing: $1) })
            }
        }
    }

    /// Does `command`'s part on this node (`here`) and has every other live node do its own (see
    /// ``Engine/acrossNodes(_:here:)``).
    private func acrossCluster(_ command: NodeCommand, here: () async -> Int) async throws(OperatorFailure) -> (count: Int, missing: [String]) {
        try await engine.acrossNodes(command, here: here)
    }

    /// ``acrossCluster(_:here:)`` as an operator result: `success` of how many clients and the
    /// nodes that did not answer, or why nothing (or only this node's part) was done.
    private func reported(
        _ command: NodeCommand, here: () async -> Int, as success: (_ count: Int, _ missing: [String]) -> OperatorResult
    ) async -> OperatorResult {
        do throws(OperatorFailure) {
            let (count, missing) = try await acrossCluster(command, here: here)
            return success(count, missing)
        } catch {
            return .failed(error)
        }
    }

    /// Closes one client with `code`. False if there is no such client.
    private func kick(_ id: String, reason: String, code: CloseCode) async -> Bool {
        // Asks every shard rather than keeping a client → shard map: kicks are rare, and the
        // map cost a lock per connect and ~50 bytes per connection.
        await gather { $0.kick(id, code: code, reason: reason) }.contains(true)
    }

    /// Closes every connection of `user` on this node; returns how many were closed.
    private func kickUser(_ user: String, reason: String, code: CloseCode) async -> Int {
        await gather { $0.kickUser(user, code: code, reason: reason) }.reduce(0, +)
    }

    /// Closes every client, or every subscriber of `channel`; returns how many were closed.
    private func kickAll(channel: String? = nil, reason: String, code: CloseCode) async -> Int {
        await gather { $0.kickAll(channel: channel, code: code, reason: reason) }.reduce(0, +)
    }

    /// Sends `{"type":"broadcast","data":…,"from":"operator"}` to every native client and
    /// `{"event":"switchboard:broadcast","data":…}` to every Pusher client; returns how many.
    /// `data` must be one valid JSON value.
    private func broadcast(data: ByteBuffer) async -> Int {
        let native = ServerMessage.broadcast(data: data, from: "operator", allocator: allocator)
        let pusher = PusherFrame.broadcast(data: data, allocator: allocator)
        let reached = await gather { $0.broadcast(native: native, pusher: pusher) }.reduce(0, +)
        events?.send(HubEvent(time: WallClock.now(), kind: .broadcast, detail: "to all: \(reached) clients"))
        return reached
    }

    /// Publishes one publication as if a client had; returns what became of it and how many of
    /// this node's subscribers it reaches (none when it was a duplicate).
    func publish(_ publication: Publication) async throws(OperatorFailure) -> (outcome: PublishOutcome, reached: Int) {
        let outcome = try await engine.publish(publication, in: self)
        guard !outcome.duplicate else { return (outcome, 0) }
        var reached = 0
        for count in await gather({ $0.subscriberCount(of: publication.channel) }) { reached += count }
        return (outcome, reached)
    }

    /// Publishes the Pusher HTTP API's events in order (ordered per channel); returns why they
    /// were refused when the server is draining or the engine cannot take them.
    func submit(_ publications: [Publication]) async -> String? {
        if isDraining { return "the server is shutting down; nothing was published" }
        return await engine.submit(publications, in: self)
    }

    /// Subscriber counts of the channels whose names start with `prefix`, summed over this
    /// node's shards.
    func subscriberCounts(prefix: String) async -> [String: Int] {
        var counts: [String: Int] = [:]
        for part in await gather({ $0.channelCounts().subscribers.filter { $0.key.hasPrefix(prefix) } }) {
            counts.merge(part, uniquingKeysWith: +)
        }
        return counts
    }

    /// Subscriptions and present users of every channel with subscribers whose name starts with
    /// `prefix`, on every node.
    func channelCounts(prefix: String) async throws(OperatorFailure) -> [String: (subscriptions: Int, users: Int)] {
        try await engine.channelCounts(prefix: prefix, in: self)
    }

    /// Closes every connection of Pusher app `appID` whose user is `userID`, on every node: how
    /// many, and the live nodes that did not answer in time (see ``acrossCluster(_:here:)``).
    func terminate(appID: String, userID: String) async throws(OperatorFailure) -> (count: Int, missing: [String]) {
        try await acrossCluster(.terminate(appID: appID, userID: userID)) { await terminateLocally(appID: appID, userID: userID) }
    }

    private func terminateLocally(appID: String, userID: String) async -> Int {
        var closed = 0
        for part in await gather({ $0.terminate(appID: appID, userID: userID, reason: "You got disconnected by the app") }) { closed += part }
        return closed
    }

    /// The node a clustered client id names (`c1@node-a` → `node-a`).
    static func node(ofClient id: String) -> String? {
        id.firstIndex(of: "@").map { String(id[id.index(after: $0)...]) }
    }

    /// Carries out another node's request on this node's clients: how many it reached or
    /// closed, nil when it does not hold the client asked for.
    func performForCluster(_ command: NodeCommand) async -> (Int?, [UInt8]) {
        switch command {
        case .broadcast(let data):
            return (await broadcast(data: ByteBuffer(bytes: data)), [])
        case .kickClient(let id, let code, let reason):
            return (await kick(id, reason: reason, code: CloseCode(rawValue: code) ?? .kicked) ? 1 : nil, [])
        case .kickUser(let kick):
            return (await kickUser(kick.user, reason: kick.reason, code: CloseCode(rawValue: kick.code) ?? .kicked), [])
        case .kickAll(let channel, let code, let reason):
            return (await kickAll(channel: channel, reason: reason, code: CloseCode(rawValue: code) ?? .kicked), [])
        case .terminate(let appID, let userID):
            return (await terminateLocally(appID: appID, userID: userID), [])
        case .nodeDeclaredDead(let name):
            events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: "node \(name) declared dead: no heartbeat for 5 s"))
            return (nil, [])
        case .clientWindow(let step):
            return (1, Array((try? JSONEncoder().encode(await clientWindowPart(step))) ?? Data()))
        case .trace:
            return (nil, [])  // the engine's to carry out (ClusterTraces), before the hub is asked
        }
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
        for _ in 0..<3 { _ = await gather { _ in () } }
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
            _ = await gather { shard in for session in shard.allSessions { session.forceClose() } }
        }
        stopAllTraces(reason: "server shutting down")
    }
}
