import NIOCore
import SwitchboardCore

/// Reading channels' history, wherever the engine keeps it (the owning shard's memory, or the
/// cluster's streams). Sessions and the admin API ask here and never need to know which.
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
    /// when the channel keeps no history; fails when the engine cannot read it right now.
    func recovery(of channel: String, since: StreamPosition?) -> EventLoopFuture<RecoveryAnswer?> {
        engine.recovery(of: channel, since: since, in: self)
    }

    /// At most `limit` kept messages of `channel` after `since` (checked against `epoch` when
    /// given), or the latest ones; fails when the engine cannot read them right now.
    func historyPage(of channel: String, since: UInt64?, epoch: String?, limit: Int) -> EventLoopFuture<Result<HistoryPage, HistoryRefusal>> {
        engine.historyPage(of: channel, since: since, epoch: epoch, limit: limit, in: self)
    }

    /// The page as the native `history` object's JSON: what `GET /api/channels/{name}/history`
    /// answers.
    func historyJSON(of channel: String, since: UInt64?, epoch: String?, limit: Int) async throws -> Result<ByteBuffer, HistoryRefusal> {
        try await historyPage(of: channel, since: since, epoch: epoch, limit: limit).get().map { page in
            WireFrame.payload(
                of: ServerMessage.history(channel: channel, position: page.position, messages: page.messages, id: nil, allocator: allocator))
        }
    }
}
