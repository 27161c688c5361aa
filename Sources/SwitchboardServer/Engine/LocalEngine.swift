import NIOConcurrencyHelpers
import NIOCore
import SwitchboardCore

/// The embedded engine: the hub is alone, and each channel's owner shard numbers its messages,
/// keeps its history and fans it out; presence and occupancy are decided in process.
///
/// A publish from a session of the owner shard is numbered and fanned out in the same call (no
/// hop, no future); from any other shard it goes through the owner's bounded inbox, and the ack
/// comes back through the publisher's.
final class LocalEngine: Engine {
    /// For channels of apps with webhooks: how many shards have subscribers, so occupied and
    /// vacated are announced once for the whole hub.
    private let occupancy = NIOLockedValueBox<[String: Int]>([:])

    var nodeName: String? { nil }

    func start(hub: Hub) {}

    func stop() async {}

    // MARK: Publishing

    func publish(_ publication: Publication, from session: Session, ackID: ByteBuffer?) -> ProtocolError? {
        let shard = session.shard
        let hub = shard.hub
        let owner = hub.owner(of: publication.channel)
        if owner === shard {
            let outcome = owner.publishAsOwner(publication, receivedAt: session.heartbeat.lastInbound)
            if let ackID { session.reply(outcome.ack(id: ackID, keyed: publication.idempotencyKey != nil, allocator: hub.allocator)) }
            return nil
        }
        guard owner.admitsPublish() else { return ProtocolError(.overloaded, "the hub is overloaded; retry later") }
        let ack = ackID.map { HubShard.PendingAck(session: session, id: $0, ticket: session.reserveReply()) }
        owner.send(.publish(publication, receivedAt: session.heartbeat.lastInbound, ack: ack))
        return nil
    }

    func publish(_ publication: Publication, in hub: Hub) async throws(OperatorFailure) -> PublishOutcome {
        let owner = hub.owner(of: publication.channel)
        let arrival = NIODeadline.now().uptimeNanoseconds
        guard let outcome = try? await owner.eventLoop.submit({ owner.publishAsOwner(publication, receivedAt: arrival) }).get() else {
            throw OperatorFailure(.unavailable, "the hub is shutting down; nothing was published")
        }
        return outcome
    }

    func submit(_ publications: [Publication], in hub: Hub) async -> String? {
        let arrival = NIODeadline.now().uptimeNanoseconds
        for publication in publications {
            let owner = hub.owner(of: publication.channel)
            guard owner.admitsPublish() else { return "the hub is overloaded; retry later" }
            owner.send(.publish(publication, receivedAt: arrival, ack: nil))
        }
        return nil
    }

    // MARK: Subscriptions

    /// Occupied and vacated are announced (webhooks) when the number of shards holding the
    /// channel leaves or reaches zero.
    func subscriptionsChanged(_ channel: String, on shard: HubShard, by change: Int, holders: HolderChange) {
        let hub = shard.hub
        guard holders != .unchanged, hub.webhooks != nil, let (app, _) = hub.pusherApp(ofHubChannel: channel), !app.webhooks.isEmpty else {
            return
        }
        let occupied = holders == .first
        occupancy.withLockedValue { counts in
            let count = counts[channel, default: 0] + (occupied ? 1 : -1)
            counts[channel] = count > 0 ? count : nil
            if occupied && count == 1 || !occupied && count == 0 { hub.announceOccupancy(channel, occupied: occupied) }
        }
    }

    func whenReceiving(
        _ channel: String, on shard: HubShard, admission: PresenceAdmission, members: Bool, then: @escaping (SubscriptionReadiness) -> Void
    ) {
        then(.receiving(members: members ? shard.hub.presentMembers(of: channel) : nil))
    }

    func whenDelivered(_ channel: String, through seq: UInt64, to shard: HubShard, then: @escaping () -> Void) {
        then()
    }

    // MARK: Presence

    func memberJoined(_ member: PresenceMember, channel: String, firstOnNode: Bool, session: Session, limit: Int) -> PresenceAdmission {
        guard firstOnNode else { return .admitted }
        let hub = session.shard.hub
        let publication = Publication(
            channel: channel, kind: .joined(member), data: ByteBuffer(), from: session.id, except: session.pusher?.socketID ?? session.id)
        hub.owner(of: channel).send(.publish(publication, receivedAt: NIODeadline.now().uptimeNanoseconds, ack: nil))
        hub.announceMember(added: true, userID: member.userID, channel: channel)
        return .admitted
    }

    func memberLeft(_ userID: String, channel: String, session: Session) {
        let hub = session.shard.hub
        let member = PresenceMember(userID: userID, info: nil)
        let publication = Publication(channel: channel, kind: .left(member), data: ByteBuffer(), from: session.id, except: nil)
        hub.owner(of: channel).send(.publish(publication, receivedAt: NIODeadline.now().uptimeNanoseconds, ack: nil))
        hub.announceMember(added: false, userID: userID, channel: channel)
    }

    func members(of channel: String, in hub: Hub) async throws(OperatorFailure) -> [PresenceMember] {
        hub.presentMembers(of: channel)
    }

    // MARK: History

    func recovery(of channel: String, since: StreamPosition?, in hub: Hub) -> EventLoopFuture<Hub.RecoveryAnswer?> {
        let owner = hub.owner(of: channel)
        return owner.eventLoop.submit { owner.owned.recover(channel, since: since) }
    }

    func historyPage(of channel: String, since: UInt64?, epoch: String?, limit: Int, in hub: Hub)
        -> EventLoopFuture<Result<Hub.HistoryPage, Hub.HistoryRefusal>>
    {
        let owner = hub.owner(of: channel)
        return owner.eventLoop.submit { owner.owned.historyPage(channel, since: since, epoch: epoch, limit: limit) }
    }

    // MARK: Counts

    func channelCounts(prefix: String, in hub: Hub) async throws(OperatorFailure) -> [String: (subscriptions: Int, users: Int)] {
        (await hub.subscriberCounts(prefix: prefix)).reduce(into: [:]) { counts, entry in
            counts[entry.key] = (entry.value, hub.presentUserCount(of: entry.key))
        }
    }

    func channelRows(_ rows: [ChannelRow], in hub: Hub) async throws(OperatorFailure) -> [ChannelRow] {
        rows
    }

    // MARK: Other nodes (there are none)

    func acrossNodes(_ command: NodeCommand, here: () async -> Int) async throws(OperatorFailure) -> (count: Int, missing: [String]) {
        (await here(), [])
    }

    func kickElsewhere(_ id: String, reason: String, code: CloseCode) async -> OperatorResult? {
        nil
    }

    func otherNodesParts(_ step: ClientWindowStep, of nodes: [String]?) async -> (parts: [String: ClientWindowPart], missing: [String]) {
        ([:], [])
    }

    var problem: String? { nil }

    func admitUser(_ user: String, localCount: Int, limit: Int) async -> UserAdmission {
        localCount <= limit ? .admitted : .tooMany
    }

    func nodeRows() async -> [NodeRow]? {
        nil
    }

    var nodesDeclaredDead: Int { 0 }

    // MARK: Traces (this node's shards are all there is)

    func traceStarted(_ sink: TraceSink, ready: @escaping @Sendable () -> Void) {
        ready()
    }

    func traceStopped(_ sink: TraceSink) {}
}
