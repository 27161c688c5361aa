import Foundation
import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import Synchronization
import SwitchboardCore

/// The clustered engine: Redis numbers every message and keeps history (one script per
/// publish, pipelined), decides presence and occupancy with scripts that also announce what
/// they changed, and carries the node commands; the node's subscriber connection brings each
/// message of a channel it holds once, to the channel's owner shard (``ClusterReceiver``).
///
/// Nothing the node tells Redis relies on a reply arriving: requests are idempotent (keyed by
/// node, connection and user; counts are set, not added to), announcements come from the scripts
/// that change the state, and after every reconnect (and every ``reassertEvery``) the node
/// re-asserts what it really holds (``ClusterLink/reassert()``).
final class RedisEngine: Engine, @unchecked Sendable {
    let link: ClusterLink
    /// How often a node re-asserts what it holds even when nothing went wrong.
    static let reassertEvery = Duration.seconds(30)
    /// The shard receivers, one per shard (by index): written once in ``start(hub:)``, before
    /// the link delivers anything, and only read after (no lock on the receive path).
    private var receivers: [ClusterReceiver] = []
    private weak var hub: Hub?
    /// The nodes as last read from Redis, shown while it cannot be reached.
    private let lastNodeRows = Mutex<[NodeRow]>([])

    /// Traces across the nodes: this node's asks, and its taps for the others'.
    let traces: ClusterTraces

    init(link: ClusterLink) {
        self.link = link
        self.traces = ClusterTraces(link: link)
    }

    var nodeName: String? { link.nodeName }

    var problem: String? { link.isUp && link.subscriber.isUp ? nil : "redis link down" }

    func start(hub: Hub) {
        self.hub = hub
        receivers = hub.shards.map { ClusterReceiver(shard: $0, link: link) }
        traces.start(hub: hub)
        link.reportLinkChanges { [weak hub] line in hub?.events?.send(HubEvent(time: WallClock.now(), kind: .server, detail: line)) }
        link.start(
            deliver: { [weak self] channel, delivery in self?.receive(delivery, on: channel) },
            resynced: { [weak self] channel, members in self?.resync(channel, members: members) },
            presence: { [weak hub] send in hub?.presence.withLockedValue { send($0.memberships) } },
            perform: { [weak hub, traces] command in
                if case .trace(let request) = command { return (await traces.perform(request), []) }
                return await hub?.performForCluster(command) ?? (nil, [])
            },
            webhooks: { [weak hub] announcements, done in hub?.announce(announcements, then: done) },
            fence: { [weak self, link] affected in self?.fenceDelivered(where: affected) ?? link.eventLoop.makeSucceededVoidFuture() },
            learned: { [weak self] channel, epoch in
                guard let (owner, receiver) = self?.receiver(of: channel) else { return }
                owner.send(.run { receiver.learn(epoch, of: channel) })
            })
    }

    /// Every shard fences the channels it delivered that are `affected` (by a Redis master
    /// change); succeeds once all have answered.
    private func fenceDelivered(where affected: @escaping @Sendable (String) -> Bool) -> EventLoopFuture<Void> {
        let fences = receivers.map { receiver in receiver.shard.eventLoop.flatSubmit { receiver.fenceDelivered(where: affected) } }
        return EventLoopFuture.andAllComplete(fences, on: link.eventLoop)
    }

    func stop() async {
        traces.stop()
        await link.nodes.leave()
        await link.stop()
    }

    /// The receiver of the shard that owns `channel`, and that shard.
    private func receiver(of channel: String) -> (HubShard, ClusterReceiver)? {
        guard let hub else { return nil }
        let owner = hub.owner(of: channel)
        return (owner, receivers[owner.index])
    }

    private func receive(_ delivery: ClusterEnvelope.Delivery, on channel: String) {
        guard let (owner, receiver) = receiver(of: channel) else { return }
        let arrival = NIODeadline.now().uptimeNanoseconds
        owner.send(.run { receiver.receive(delivery, on: channel, receivedAt: arrival) })
    }

    private func resync(_ channel: String, members: (current: [PresenceMember], announce: Bool)) {
        guard let (owner, receiver) = receiver(of: channel) else { return }
        let arrival = NIODeadline.now().uptimeNanoseconds
        owner.send(.run { receiver.resync(channel, members: members.current, announce: members.announce, receivedAt: arrival) })
    }

    // MARK: Publishing

    /// Sends a publish to Redis, which numbers it and hands it to every node holding the
    /// channel (this one included). The ack (native, in request order) waits for Redis's
    /// answer; a failure is the publisher's error.
    func publish(_ publication: Publication, from session: Session, ackID: ByteBuffer?) -> ProtocolError? {
        guard link.isUp else { return .unavailable("; nothing was published") }
        let shard = session.shard
        // The requests waiting for Redis are bounded like an inbox.
        guard link.connection.pending < shard.configuration.shardInboxCapacity else {
            return ProtocolError(.overloaded, "the hub is overloaded (Redis is slow to answer); retry later")
        }
        let ticket = session.speaksPusher ? nil : session.reserveReply()
        let allocator = shard.hub.allocator
        let keyed = publication.idempotencyKey != nil
        link.publish(publication).hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
            switch (result, ticket) {
            case (.success(let outcome), let ticket?):
                session.fillReply(ticket: ticket, with: ackID.map { outcome.ack(id: $0, keyed: keyed, allocator: allocator) } ?? ByteBuffer())
            case (.failure(let error), let ticket?):
                session.fillReply(ticket: ticket, with: ServerMessage.error(Self.refusal(error), id: ackID, allocator: allocator))
            case (.failure(let error), nil):
                session.push(PusherFrame.error(code: nil, message: Self.refusal(error).message, allocator: allocator))
            case (.success, nil):
                break
            }
        }
        return nil
    }

    /// What a publisher is told when Redis did not accept its publish.
    private static func refusal(_ error: any Error) -> ProtocolError {
        if case RedisError.unavailable = error { return .unavailable("; nothing was published") }
        return ProtocolError(.unavailable, "\(error); the message may or may not have been published")
    }

    func publish(_ publication: Publication, in hub: Hub) async throws(OperatorFailure) -> PublishOutcome {
        do {
            return try await link.publish(publication).get()
        } catch {
            let refusal = Self.refusal(error)
            throw OperatorFailure(.unavailable, refusal.message)
        }
    }

    /// All in one pipelined batch; returns once Redis has accepted every one.
    func submit(_ publications: [Publication], in hub: Hub) async -> String? {
        guard link.isUp else { return ProtocolError.redisUnreachable + "; nothing was published" }
        let accepted = publications.map { link.publish($0) }
        var failures: [ProtocolError] = []
        for future in accepted {
            do { _ = try await future.get() } catch { failures.append(Self.refusal(error)) }
        }
        guard let first = failures.first else { return nil }
        return failures.count == publications.count ? first.message : "\(failures.count) of \(publications.count) events failed: \(first.message)"
    }

    // MARK: Subscriptions

    func subscriptionsChanged(_ channel: String, on shard: HubShard, by change: Int, holders: HolderChange) {
        switch holders {
        case .first: link.hold(channel, subscriptions: change)
        case .last:
            let owner = receiver(of: channel)
            link.release(channel, subscriptions: change) { owner.map { shard, receiver in shard.send(.run { receiver.forget(channel) }) } }
        case .unchanged: link.count(channel, by: change)
        }
    }

    func whenReceiving(
        _ channel: String, on shard: HubShard, admission: PresenceAdmission, members: Bool, then: @escaping (SubscriptionReadiness) -> Void
    ) {
        let link = self.link
        let subscribed = link.ready(channel)
        let decided: EventLoopFuture<SubscriptionReadiness> =
            if case .pending(let join) = admission {
                subscribed.and(join).flatMap { _, admitted in
                    guard admitted else { return link.eventLoop.makeSucceededFuture(.presenceFull) }
                    if members { return link.trackedMembers(of: channel).map { .receiving(members: $0) } }
                    return link.track(channel).map { .receiving(members: nil) }
                }
            } else if members {
                subscribed.flatMap { link.trackedMembers(of: channel) }.map { .receiving(members: $0) }
            } else {
                subscribed.map { .receiving(members: nil) }
            }
        decided.hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
            then((try? result.get()) ?? .unavailable)
        }
    }

    /// Messages up to the position may still be on their way to this node: `then` waits until
    /// the owner has delivered them.
    func whenDelivered(_ channel: String, through seq: UInt64, to shard: HubShard, then: @escaping () -> Void) {
        guard let (owner, receiver) = receiver(of: channel) else { return then() }
        owner.send(.run { receiver.whenDelivered(channel, through: seq, notify: shard, then: then) })
    }

    // MARK: Presence

    /// Every connection asks Redis (the join script changes Redis only for the node's first
    /// connection of the user, and announces the user's first in the cluster itself).
    func memberJoined(_ member: PresenceMember, channel: String, firstOnNode: Bool, session: Session, limit: Int) -> PresenceAdmission {
        let except = session.pusher?.socketID ?? session.id
        return .pending(link.join(member, channel: channel, limit: limit, except: except, from: session.id))
    }

    func memberLeft(_ userID: String, channel: String, session: Session) {
        link.leave(userID: userID, channel: channel, from: session.id)
    }

    func members(of channel: String, in hub: Hub) async throws(OperatorFailure) -> [PresenceMember] {
        do { return try await link.members(of: channel).get() } catch { throw .redisUnreachable(": \(error)") }
    }

    // MARK: History

    func recovery(of channel: String, since: StreamPosition?, in hub: Hub) -> EventLoopFuture<Hub.RecoveryAnswer?> {
        guard let policy = link.history.policy(for: channel), link.history.isEnabled else { return link.eventLoop.makeSucceededFuture(nil) }
        let read: ClusterLink.HistoryRead = since.map { .recover($0) } ?? .position
        let allocator = hub.allocator
        return link.readHistory(channel, policy: policy, read).map { answer in
            guard since != nil else { return Hub.RecoveryAnswer(position: answer.position, replay: nil) }
            return Hub.RecoveryAnswer(position: answer.position, replay: answer.complete ? .recovered(answer.entries(allocator)) : .notRecovered)
        }
    }

    func historyPage(of channel: String, since: UInt64?, epoch: String?, limit: Int, in hub: Hub)
        -> EventLoopFuture<Result<Hub.HistoryPage, Hub.HistoryRefusal>>
    {
        guard let policy = link.history.policy(for: channel), link.history.isEnabled else {
            return link.eventLoop.makeSucceededFuture(.failure(.none))
        }
        let allocator = hub.allocator
        return link.readHistory(channel, policy: policy, .page(since: since, epoch: epoch, limit: limit)).map { answer in
            guard answer.complete else { return .failure(.unrecoverable(answer.position)) }
            return .success(Hub.HistoryPage(position: answer.position, messages: answer.entries(allocator)))
        }
    }

    // MARK: Counts

    func channelCounts(prefix: String, in hub: Hub) async throws(OperatorFailure) -> [String: (subscriptions: Int, users: Int)] {
        do { return try await link.channelCounts(prefix: prefix).get() } catch { throw .redisUnreachable(": \(error)") }
    }

    /// Every node's subscribers from Redis's counters (``ChannelRow/nodeSubscribers`` keeps this
    /// node's); channels that only other nodes hold are added with this node's figures at zero.
    func channelRows(_ rows: [ChannelRow], in hub: Hub) async throws(OperatorFailure) -> [ChannelRow] {
        var counts = try await channelCounts(prefix: "", in: hub)
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

    // MARK: Other nodes

    /// Refused with nothing done while the cluster's Redis cannot be reached.
    func acrossNodes(_ command: NodeCommand, here: () async -> Int) async throws(OperatorFailure) -> (count: Int, missing: [String]) {
        guard link.isUp else { throw .redisUnreachable("; nothing was done") }
        let done = await here()
        do {
            let answers = try await link.ask(command)
            return (done + answers.total, answers.missing)
        } catch {
            throw OperatorFailure(.unavailable, "\(error.message); done on this node only (\(done) clients)")
        }
    }

    /// 404 once the node named in the id says it does not hold the client or is not alive; 503
    /// when it is alive and did not answer in time (the client may still be connected) or Redis
    /// cannot be reached.
    func kickElsewhere(_ id: String, reason: String, code: CloseCode) async -> OperatorResult? {
        guard let node = Hub.node(ofClient: id), node != link.nodeName else { return nil }
        do throws(OperatorFailure) {
            guard try await link.otherLiveNodes().contains(node) else {
                return .failed(OperatorFailure(.notFound, "no client \(id) (node \(node) is not alive)"))
            }
            let answers = try await link.ask(.kickClient(id: id, code: code.rawValue, reason: reason), of: [node])
            if case .some(.some) = answers.counts[node] { return .kicked(1) }
            guard answers.missing.isEmpty else {
                return .failed(OperatorFailure(.unavailable, "node \(node) did not answer in time; \(id) may still be connected"))
            }
            return .failed(OperatorFailure(.notFound, "no client \(id)"))
        } catch {
            return .failed(error)
        }
    }

    /// What a window's `missing` says when the live nodes cannot be listed.
    static let unknownNodes = "other nodes (\(ProtocolError.redisUnreachable))"

    func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String]) {
        let answers: ClusterLink.Answers
        do throws(OperatorFailure) {
            answers = try await link.ask(.clientWindow(step), of: nodes)
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

    func admitUser(_ user: String, localCount: Int, limit: Int) async -> UserAdmission {
        await link.admitUser(user, localCount: localCount, limit: limit)
    }

    /// Every node as Redis last told; while Redis cannot be reached, the rows read last with
    /// this node's marked `down` (its link, and with Redis Cluster its shards as they stand now)
    /// and the others' state unknown (`?`), so the nodes pane stays and says what is wrong rather
    /// than disappearing.
    func nodeRows() async -> [NodeRow]? {
        if let entries = try? await link.nodes.nodes() {
            let rows = entries.map(\.row)
            lastNodeRows.withLock { $0 = rows }
            return rows
        }
        let name = link.nodeName
        let shards = link.connection.shards(subscriber: link.subscriber).map(\.row)
        var rows = lastNodeRows.withLock { $0 }.map { row in
            var row = row
            row.state = row.name == name ? "down" : "?"
            if row.name == name {
                row.redisUp = false
                row.redisShards = shards.isEmpty ? nil : shards
            }
            return row
        }
        if !rows.contains(where: { $0.name == name }) {
            let own = NodeRow(
                name: name, state: "down", heartbeatAgeMilliseconds: 0, address: hub?.address ?? "", connections: hub?.connectionCount ?? 0,
                mailboxDepth: 0, messagesInPerSecond: 0, messagesOutPerSecond: 0, redisRoundTripMilliseconds: nil, redisUp: false,
                redisShards: shards.isEmpty ? nil : shards)
            rows.insert(own, at: 0)
        }
        return rows
    }

    var nodesDeclaredDead: Int { link.nodes.declaredDead.load(ordering: .relaxed) }

    // MARK: Traces

    func traceStarted(_ sink: TraceSink, ready: @escaping @Sendable () -> Void) {
        traces.started(sink, ready: ready)
    }

    func traceStopped(_ sink: TraceSink) {
        traces.stopped(sink)
    }
}
