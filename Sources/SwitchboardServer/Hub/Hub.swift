public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import SwitchboardCore
import NIOConcurrencyHelpers
public import Histogram
import RedisClient
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
    private let draining = Atomic<Bool>(false)
    /// Places taken by accepted WebSocket handshakes whose channels are still open.
    private let places = Atomic<Int>(0)
    private let startedAt = ContinuousClock.now
    /// Where lifecycle events go: the metrics collector's mailbox.
    let events: EventMailbox?
    /// Mailboxes of actors outside the shards (admin streams), for the actors pane.
    private let otherGauges = NIOLockedValueBox<[ObjectIdentifier: MailboxGauge]>([:])
    /// `ws://host:port/path`, once the listener is bound.
    private let boundAddress = NIOLockedValueBox("")
    /// The Pusher apps, by key and by id, with their live connection counts.
    let apps: PusherApps
    /// Who is present in each presence channel, for both protocols (clustered: on this node).
    let presence = NIOLockedValueBox(PresenceRegistry())
    /// Webhook delivery, when some Pusher app has webhook URLs.
    let webhooks: WebhookDispatcher?
    /// For channels of apps with webhooks: how many shards have subscribers, so occupied and
    /// vacated are announced once for the whole hub.
    let occupancy = NIOLockedValueBox<[String: Int]>([:])
    /// The link to the cluster's Redis, when the node is clustered (`--redis`); nil: the hub is
    /// alone and numbers and fans out everything in process.
    let cluster: ClusterLink?
    /// Client orders shared by the queries that want one at about the same time.
    let clientOrders: ClientOrderCache

    /// Creates a hub with one shard on each loop of `eventLoopGroup`.
    public init(eventLoopGroup: any EventLoopGroup, configuration: HubConfiguration, logger: Logger, events: EventMailbox? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.events = events
        self.clientOrders = ClientOrderCache()
        self.apps = PusherApps(configuration.pusherApps)
        self.webhooks = configuration.pusherApps.contains { !$0.webhooks.isEmpty } ? WebhookDispatcher(logger: logger) : nil
        self.cluster = configuration.cluster.redis.map { address in
            ClusterLink(
                configuration: configuration.cluster, history: configuration.history, address: address,
                nodeName: configuration.cluster.nodeName ?? ProcessInfo.processInfo.hostName,
                eventLoop: eventLoopGroup.next(), logger: logger)
        }
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
        guard let cluster else { return "c" + String(number, radix: 36) }
        return "c" + String(number, radix: 36) + "@" + cluster.nodeName
    }

    /// A Pusher socket id, `<digits>.<digits>`, unique for the life of the process.
    func makeSocketID() -> String {
        let number = nextClientNumber.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(number).\(UInt32.random(in: 100_000_000...UInt32.max))"
    }

    // MARK: - Presence

    /// What became of one connection's presence join.
    enum PresenceAdmission {
        /// The channel holds its limit of users; nothing changed.
        case refused
        /// Present (in process: decided and announced here).
        case admitted
        /// Clustered: counted on this node; Redis decides, and announces a first join itself.
        case pending(EventLoopFuture<ClusterLink.JoinOutcome>)
    }

    /// Adds one connection of `member` to the presence of `channel` and, when it is the user's
    /// first, announces the join to the channel (through its owner, so in order with its
    /// messages). Refused when the channel already holds `limit` users.
    ///
    /// Clustered, the node counts its own connections and every one asks Redis (the join script
    /// changes Redis only for the node's first connection of the user), under the same lock as
    /// the leaves, so the node's joins and leaves of a user reach Redis in the order they happened.
    func joinPresence(_ member: PresenceMember, channel: String, session: Session, limit: Int) -> PresenceAdmission {
        let arrival = NIODeadline.now().uptimeNanoseconds
        let except = session.pusher?.socketID ?? session.id
        return presence.withLockedValue { registry in
            let outcome = registry.join(member, channel: channel, limit: limit)
            if outcome == .full { return .refused }
            if let cluster {
                let join = cluster.join(member, channel: channel, limit: limit, except: except, from: session.id)
                join.whenSuccess { if $0 == .joined { self.announceMember(added: true, userID: member.userID, channel: channel) } }
                return .pending(join)
            }
            if outcome == .joined {
                // Sent under the lock, so a user's join and leave reach the owner in order.
                let publication = Publication(channel: channel, kind: .joined(member), data: ByteBuffer(), from: session.id, except: except)
                owner(of: channel).send(.publish(publication, receivedAt: arrival, ack: nil))
                announceMember(added: true, userID: member.userID, channel: channel)
            }
            return .admitted
        }
    }

    /// Removes one connection of `userID` from the presence of `channel`; announces the leave
    /// when it was the user's last.
    ///
    /// Clustered, the node's last connection of the user tells Redis, and the node announces
    /// the leave (webhook) only when it was the user's last in the cluster.
    func leavePresence(userID: String, channel: String, session: Session) {
        let arrival = NIODeadline.now().uptimeNanoseconds
        presence.withLockedValue { registry in
            guard registry.leave(userID: userID, channel: channel) else { return }
            if let cluster {
                // Sent under the lock, so the node's join and leave of a user reach Redis in order.
                cluster.leave(userID: userID, channel: channel, from: session.id).whenSuccess { left in
                    if left { self.announceMember(added: false, userID: userID, channel: channel) }
                }
                return
            }
            let member = PresenceMember(userID: userID, info: nil)
            let publication = Publication(channel: channel, kind: .left(member), data: ByteBuffer(), from: session.id, except: nil)
            owner(of: channel).send(.publish(publication, receivedAt: arrival, ack: nil))
            announceMember(added: false, userID: userID, channel: channel)
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

    /// The users present in `channel` on every node (clustered: from Redis), in join order.
    func clusterMembers(of channel: String) async throws(OperatorFailure) -> [PresenceMember] {
        guard let cluster else { return presentMembers(of: channel) }
        do { return try await cluster.members(of: channel).get() } catch { throw Self.unreachable(error) }
    }

    static func unreachable(_ error: any Error) -> OperatorFailure {
        OperatorFailure(.unavailable, "the cluster's Redis cannot be reached: \(error)")
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
    func makeSession(for channel: any Channel, route: Session.Route, identity: ClientIdentity, deflate: DeflateParameters?, userAgent: String)
        -> Session
    {
        let remote = channel.remoteAddress.map(Self.describe) ?? "unknown"
        let (number, id) = makeClientID()
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
            let (subscriptions, names, queued, traffic, historyBytes) =
                (try? await shard.eventLoop.submit {
                    (shard.subscriptionCount, shard.channelNames, shard.queuedFrames, shard.traffic, shard.historyBytes)
                }.get()) ?? (0, [], 0, Traffic(), 0)
            result.historyBytes += historyBytes
            result.recovered += traffic.recovered
            result.notRecovered += traffic.notRecovered
            result.historyEvictions += traffic.historyEvictions
            result.gapsFilled += traffic.gapsFilled
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
            result.gaps += traffic.gaps
            result.messagesLost += traffic.messagesLost
            result.numberingRestarts += traffic.numberingRestarts
        }
        result.nodesDeclaredDead = cluster?.nodes.declaredDead.load(ordering: .relaxed) ?? 0
        result.channels = channelNames.count
        return result
    }

    /// The outbound mailbox figures of every connected session (for tests and inspection).
    public func sessionMailboxes() async -> [String: MailboxCounts] {
        var result: [String: MailboxCounts] = [:]
        for shard in shards {
            let part = (try? await shard.eventLoop.submit { shard.allSessions.map { ($0.id, $0.mailboxCounts) } }.get()) ?? []
            for (id, counts) in part { result[id] = counts }
        }
        return result
    }

    // MARK: - Operator actions

    /// Carries out an operator command: the one interpreter behind the admin API, the admin
    /// stream, the local and the attached console and the CLI verbs.
    public func perform(_ command: OperatorCommand) async -> OperatorResult {
        switch command {
        case .broadcast(let data):
            return await reported(.broadcast(data: data), here: { await broadcast(data: ByteBuffer(bytes: data)) }) {
                .broadcast(reached: $0, missing: $1)
            }
        case .publish(let channel, let data, let from):
            let publication = Publication(
                channel: channel, kind: .message(event: nil, user: nil), data: ByteBuffer(bytes: data), from: from, except: nil)
            do {
                let (seq, reached) = try await publish(publication)
                return .published(channel: channel, seq: seq, reached: reached)
            } catch {
                return .failed(error)
            }
        case .kick(let target, let reason, let reconnect):
            let code: CloseCode = reconnect ? .reconnect : .kicked
            switch target {
            case .client(let id):
                if let cluster, let node = Self.node(ofClient: id), node != cluster.nodeName {
                    return await kick(id, on: node, of: cluster, reason: reason, code: code)
                }
                guard await kick(id, reason: reason, code: code) else { return .failed(OperatorFailure(.notFound, "no client \(id)")) }
                return .kicked(1)
            case .channel(let channel):
                return await reported(
                    .kickAll(channel: channel, code: code.rawValue, reason: reason),
                    here: {
                        await kickAll(channel: channel, reason: reason, code: code)
                    }
                ) { .kicked($0, missing: $1) }
            case .all:
                return await reported(
                    .kickAll(channel: nil, code: code.rawValue, reason: reason),
                    here: {
                        await kickAll(reason: reason, code: code)
                    }
                ) { .kicked($0, missing: $1) }
            }
        }
    }

    /// Does `command`'s part on this node (`here`) and has every other live node do its own: the
    /// clients reached or closed on the nodes that answered, and the live nodes that did not
    /// answer in time. Refused with nothing done while the cluster's Redis cannot be reached.
    private func acrossCluster(_ command: NodeCommand, here: () async -> Int) async throws(OperatorFailure) -> (count: Int, missing: [String]) {
        guard let cluster else { return (await here(), []) }
        guard cluster.isUp else { throw OperatorFailure(.unavailable, "the cluster's Redis cannot be reached; nothing was done") }
        let done = await here()
        do {
            let answers = try await cluster.ask(command)
            return (done + answers.total, answers.missing)
        } catch {
            throw OperatorFailure(.unavailable, "\(error.message); done on this node only (\(done) clients)")
        }
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

    /// Kicks client `id` of `node`, another node: 404 once that node says it does not hold the
    /// client or is not alive; 503 when it is alive and did not answer in time (the client may
    /// still be connected) or Redis cannot be reached.
    private func kick(_ id: String, on node: String, of cluster: ClusterLink, reason: String, code: CloseCode) async -> OperatorResult {
        do throws(OperatorFailure) {
            guard try await cluster.otherLiveNodes().contains(node) else {
                return .failed(OperatorFailure(.notFound, "no client \(id) (node \(node) is not alive)"))
            }
            let answers = try await cluster.ask(.kickClient(id: id, code: code.rawValue, reason: reason), of: [node])
            if case .some(.some) = answers.counts[node] { return .kicked(1) }
            guard answers.missing.isEmpty else {
                return .failed(OperatorFailure(.unavailable, "node \(node) did not answer in time; \(id) may still be connected"))
            }
            return .failed(OperatorFailure(.notFound, "no client \(id)"))
        } catch {
            return .failed(error)
        }
    }

    /// Closes one client with `code`. False if there is no such client.
    private func kick(_ id: String, reason: String, code: CloseCode) async -> Bool {
        // Asks every shard rather than keeping a client → shard map: kicks are rare, and the
        // map cost a lock per connect and ~50 bytes per connection.
        for shard in shards where (try? await shard.eventLoop.submit { shard.kick(id, code: code, reason: reason) }.get()) == true {
            return true
        }
        return false
    }

    /// Closes every client, or every subscriber of `channel`; returns how many were closed.
    private func kickAll(channel: String? = nil, reason: String, code: CloseCode) async -> Int {
        var kicked = 0
        for shard in shards {
            kicked += (try? await shard.eventLoop.submit { shard.kickAll(channel: channel, code: code, reason: reason) }.get()) ?? 0
        }
        return kicked
    }

    /// Sends `{"type":"broadcast","data":…,"from":"operator"}` to every native client and
    /// `{"event":"switchboard:broadcast","data":…}` to every Pusher client; returns how many.
    /// `data` must be one valid JSON value.
    private func broadcast(data: ByteBuffer) async -> Int {
        let native = ServerMessage.broadcast(data: data, from: "operator", allocator: allocator)
        let pusher = PusherFrame.broadcast(data: data, allocator: allocator)
        var reached = 0
        for shard in shards {
            reached += (try? await shard.eventLoop.submit { shard.broadcast(native: native, pusher: pusher) }.get()) ?? 0
        }
        events?.send(HubEvent(time: WallClock.now(), kind: .broadcast, detail: "to all: \(reached) clients"))
        return reached
    }

    /// Publishes one publication as if a client had; returns the sequence number and how many
    /// subscribers it reached (clustered: how many of this node's subscribers it will reach).
    func publish(_ publication: Publication) async throws(OperatorFailure) -> (seq: UInt64, reached: Int) {
        if let cluster {
            let seq = try await Self.accepted(cluster.publish(publication))
            var reached = 0
            for count in await gather({ $0.subscriberCount(of: publication.channel) }) { reached += count }
            return (seq, reached)
        }
        let owner = owner(of: publication.channel)
        let arrival = NIODeadline.now().uptimeNanoseconds
        guard let (seq, local) = try? await owner.eventLoop.submit({ owner.fanOut(publication, receivedAt: arrival) }).get() else {
            return (0, 0)
        }
        var reached = local
        for shard in shards where shard !== owner {
            reached += (try? await shard.eventLoop.submit { shard.subscriberCount(of: publication.channel) }.get()) ?? 0
        }
        return (seq, reached)
    }

    /// Publishes the Pusher HTTP API's events in order. In process each goes to its channel's
    /// owner without waiting for the fan-out (ordered per channel, as the owner's inbox is
    /// FIFO); clustered, all are sent to Redis in one pipelined batch and this returns once Redis
    /// has accepted them. Returns why they were refused when the server is draining, an inbox is
    /// full or Redis cannot be reached.
    func submit(_ publications: [Publication]) async -> String? {
        if isDraining { return "the server is shutting down; nothing was published" }
        if let cluster {
            guard cluster.isUp else { return "the cluster's Redis cannot be reached; nothing was published" }
            let accepted = publications.map { cluster.publish($0) }
            var failures: [OperatorFailure] = []
            for future in accepted {
                do throws(OperatorFailure) { _ = try await Self.accepted(future) } catch { failures.append(error) }
            }
            guard let first = failures.first else { return nil }
            return failures.count == publications.count ? first.message : "\(failures.count) of \(publications.count) events failed: \(first.message)"
        }
        let arrival = NIODeadline.now().uptimeNanoseconds
        for publication in publications {
            let owner = owner(of: publication.channel)
            guard owner.inboxBacklog < configuration.shardInboxCapacity else { return "the hub is overloaded; retry later" }
            owner.send(.publish(publication, receivedAt: arrival, ack: nil))
        }
        return nil
    }

    /// Redis's `seq` for an accepted publish, or why it was not accepted.
    private static func accepted(_ future: EventLoopFuture<UInt64>) async throws(OperatorFailure) -> UInt64 {
        do {
            return try await future.get()
        } catch RedisError.unavailable {
            throw OperatorFailure(.unavailable, "the cluster's Redis cannot be reached; nothing was published")
        } catch {
            throw OperatorFailure(.unavailable, "\(error); the message may or may not have been published")
        }
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
    /// `prefix`: on this node, or clustered on every node (from Redis's counters).
    func channelCounts(prefix: String) async throws(OperatorFailure) -> [String: (subscriptions: Int, users: Int)] {
        if let cluster {
            do { return try await cluster.channelCounts(prefix: prefix).get() } catch { throw Self.unreachable(error) }
        }
        return (await subscriberCounts(prefix: prefix)).reduce(into: [:]) { counts, entry in
            counts[entry.key] = (entry.value, presentUserCount(of: entry.key))
        }
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
        case .kickAll(let channel, let code, let reason):
            return (await kickAll(channel: channel, reason: reason, code: CloseCode(rawValue: code) ?? .kicked), [])
        case .terminate(let appID, let userID):
            return (await terminateLocally(appID: appID, userID: userID), [])
        case .nodeDeclaredDead(let name):
            events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: "node \(name) declared dead: no heartbeat for 5 s"))
            return (nil, [])
        case .clientWindow(let step):
            return (1, Array((try? JSONEncoder().encode(await clientWindowPart(step))) ?? Data()))
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
    fileprivate func gather<T: Sendable>(_ body: @escaping @Sendable (HubShard) -> T) async -> [T] {
        var results: [T] = []
        for shard in shards {
            if let value = try? await shard.eventLoop.submit({ body(shard) }).get() { results.append(value) }
        }
        return results
    }

    public func totals() async -> Totals {
        await statistics()
    }

    public func sampleClientRates(elapsed: Double?) async {
        _ = await gather { $0.sampleClientRates(elapsed: elapsed) }
        clientOrders.figuresSampled()
    }

    /// This node's clients in `query`'s window: a slice of the order's keys (plain numbers,
    /// sorted once and shared by the queries wanting that order while it is current, see
    /// ``ClientOrderCache``); only the window's rows are built, by the shards holding them.
    public func clientWindow(_ query: ClientQuery) async -> ClientWindow {
        let order = await order(query)
        let matching = order.keys.count
        return ClientWindow(total: matching, offset: min(query.offset, matching), rows: await rows(of: Array(order.window(query))).compactMap { $0 })
    }

    public var nodeName: String? { cluster?.nodeName }

    public func clientWindowPart(_ step: ClientWindowStep) async -> ClientWindowPart {
        switch step {
        case .outline(let query): .outline(NodeOutline(of: await order(query)))
        case .range(let query, let range): .range(NodeRange(of: await order(query), in: range, node: nodeName ?? ""))
        case .rows(let keys): .rows(await rows(of: keys))
        }
    }

    /// The clients `query` matches, sorted, shared by the queries wanting
    /// the same order while it is current (``ClientOrderCache``).
    private func order(_ query: ClientQuery) async -> SortedClientOrder {
        await clientOrders.order(for: query) { [self] in
            await gather { $0.clientOrderKeys(matching: query) }
        } moved: { [self] since in
            let parts = await gather { shard in
                since.indices.contains(shard.index) ? shard.movedClientOrderKeys(matching: query, since: since[shard.index]) : nil
            }
            let moved = parts.compactMap { $0 }
            return moved.count == shards.count && since.count == shards.count ? moved : nil
        }
    }

    /// The rows of the clients `keys` stand for, in their order, built by the shards holding
    /// them; nil for a client that has left.
    private func rows(of keys: [ClientOrderKey]) async -> [ClientRow?] {
        var built: [UInt64: ClientRow] = [:]
        for (owner, keys) in Dictionary(grouping: keys, by: \.owner) where shards.indices.contains(owner) {
            let shard = shards[owner]
            let numbers = keys.map(\.number)
            guard let rows = try? await shard.eventLoop.submit({ shard.clientRows(numbers: numbers) }).get() else { continue }
            for (number, row) in rows { built[number] = row }
        }
        let node = cluster?.nodeName
        return keys.map { key in
            built[key.number].map {
                var row = $0
                row.node = node
                return row
            }
        }
    }

    public func busiestClients(limit: Int) async -> [ClientRow] {
        let rows = (await gather { $0.busiestClientRows(limit: limit) }).flatMap { $0 }
        return Array(rows.sorted { $0.mailbox.depth > $1.mailbox.depth }.prefix(limit))
    }

    /// What a window's `missing` says when the live nodes cannot be listed.
    static let unknownNodes = "other nodes (the cluster's Redis cannot be reached)"

    public func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String]) {
        guard let cluster else { return ([:], []) }
        let answers: ClusterLink.Answers
        do throws(OperatorFailure) {
            answers = try await cluster.ask(.clientWindow(step), of: nodes)
        } catch {
            // Which nodes are alive cannot be told: the window says so instead of shrinking.
            return ([:], [Self.unknownNodes])
        }
        var parts: [String: ClientWindowPart] = [:]
        var missing = answers.missing
        for node in answers.counts.keys {
            if let payload = answers.payloads[node], let part = try? JSONDecoder().decode(ClientWindowPart.self, from: Data(payload)) {
                parts[node] = part
            } else {
                missing.append(node)
            }
        }
        return (parts, missing)
    }

    public func nodeRows() async -> [NodeRow]? {
        guard let cluster, let entries = try? await cluster.nodes.nodes() else { return nil }
        return entries.map(\.row)
    }

    public func channelRows() async -> [ChannelRow] {
        var subscribers: [String: Int] = [:]
        var published: [String: Int] = [:]
        var histories: [String: (count: Int, epoch: String)] = [:]
        for part in await gather({ ($0.channelCounts(), $0.historyFigures()) }) {
            subscribers.merge(part.0.subscribers, uniquingKeysWith: +)
            published.merge(part.0.published, uniquingKeysWith: +)
            histories.merge(part.1) { first, _ in first }
        }
        // Channels with history are listed even while nobody subscribes: their history lives on.
        for channel in histories.keys where subscribers[channel] == nil { subscribers[channel] = 0 }
        return subscribers.map { channel, count in
            ChannelRow(
                name: channel, subscribers: count, messageRate: 0, published: published[channel] ?? 0, history: histories[channel]?.count,
                epoch: histories[channel]?.epoch)
        }
    }

    /// `rows` (this node's channels) as the admin API lists them: on a clustered node with
    /// every node's subscribers from Redis's counters (``nodeSubscribers`` keeps this node's),
    /// channels that only other nodes hold added with this node's figures at zero.
    func clusterChannelRows(_ rows: [ChannelRow]) async throws(OperatorFailure) -> [ChannelRow] {
        guard cluster != nil else { return rows }
        var counts = try await channelCounts(prefix: "")
        var merged = rows.map { row in
            var row = row
            row.nodeSubscribers = row.subscribers
            row.subscribers = counts.removeValue(forKey: row.name)?.subscriptions ?? 0
            return row
        }
        for (name, count) in counts where count.subscriptions > 0 {
            var row = ChannelRow(name: name, subscribers: count.subscriptions, messageRate: 0, published: 0)
            row.nodeSubscribers = 0
            merged.append(row)
        }
        return merged.sorted { ($0.subscribers, $1.name) > ($1.subscribers, $0.name) }
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
        var merged = LatencyHistogram.make()
        for part in await gather({ $0.takeLatencies() }) { merged.add(part) }
        return merged
    }
}
