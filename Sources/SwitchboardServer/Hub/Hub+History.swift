import NIOCore
import SwitchboardCore

/// Reading channels' history, wherever it lives: in the owning shard's memory on a single node,
/// in Redis streams on a clustered one (see ClusterHistory.swift). Sessions and the admin API
/// ask here and never need to know which.
extension Hub {
    /// Why a history page cannot be served.
    enum HistoryRefusal: Error {
        /// The channel keeps no history.
        case none
        /// `since` is in another epoch, or messages after it are gone.
        case unrecoverable(StreamPosition)
    }

    /// Kept messages of a channel, oldest first, and its position.
    struct HistoryPage: Sendable {
        var position: StreamPosition
        var messages: [ChannelHistory.Entry]
    }

    /// What a subscription to a channel with history is told: the channel's position and, when
    /// the subscriber asked to resume, whether (and with what) it is recovered.
    struct RecoveryAnswer: Sendable {
        var position: StreamPosition
        var replay: ChannelHistory.Recovery?
    }

    /// `channel`'s position and, with `since`, what a subscriber resuming from there gets. Nil
    /// when the channel keeps no history; fails when the cluster's Redis cannot be reached.
    func recovery(of channel: String, since: StreamPosition?) -> EventLoopFuture<RecoveryAnswer?> {
        let owner = owner(of: channel)
        guard let cluster else { return owner.eventLoop.submit { owner.recover(channel, since: since) } }
        guard let policy = configuration.history.policy(for: channel) else { return cluster.eventLoop.makeSucceededFuture(nil) }
        let read: ClusterLink.HistoryRead = since.map { .recover($0) } ?? .position
        return cluster.readHistory(channel, policy: policy, read).map { answer in
            guard since != nil else { return RecoveryAnswer(position: answer.position, replay: nil) }
            return RecoveryAnswer(position: answer.position, replay: answer.complete ? .recovered(self.entries(answer)) : .notRecovered)
        }
    }

    /// At most `limit` kept messages of `channel` after `since` (checked against `epoch` when
    /// given), or the latest ones; fails when the cluster's Redis cannot be reached.
    func historyPage(of channel: String, since: UInt64?, epoch: String?, limit: Int) -> EventLoopFuture<Result<HistoryPage, HistoryRefusal>> {
        let owner = owner(of: channel)
        guard let cluster else { return owner.eventLoop.submit { owner.historyPage(channel, since: since, epoch: epoch, limit: limit) } }
        guard let policy = configuration.history.policy(for: channel) else { return cluster.eventLoop.makeSucceededFuture(.failure(.none)) }
        return cluster.readHistory(channel, policy: policy, .page(since: since, epoch: epoch, limit: limit)).map { answer in
            guard answer.complete else { return .failure(.unrecoverable(answer.position)) }
            return .success(HistoryPage(position: answer.position, messages: self.entries(answer)))
        }
    }

    /// The page as the native `history` object's JSON: what `GET /api/channels/{name}/history`
    /// answers.
    func historyJSON(of channel: String, since: UInt64?, epoch: String?, limit: Int) async throws -> Result<ByteBuffer, HistoryRefusal> {
        try await historyPage(of: channel, since: since, epoch: epoch, limit: limit).get().map { page in
            WireFrame.payload(
                of: ServerMessage.history(channel: channel, position: page.position, messages: page.messages, id: nil, allocator: allocator))
        }
    }

    /// Messages read from Redis as native frames.
    private func entries(_ answer: ClusterLink.HistoryAnswer) -> [ChannelHistory.Entry] {
        answer.messages.map { ChannelHistory.Entry(seq: $0.seq, frame: $0.publication.nativeFrame(seq: $0.seq, allocator: allocator)) }
    }
}
