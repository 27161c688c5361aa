import NIOCore
import SwitchboardCore

/// What became of a message's publish: its `seq`, and whether an earlier publish with the same
/// idempotency key already had it, in which case nothing was sent now.
struct PublishOutcome: Sendable, Equatable {
    let seq: UInt64
    let duplicate: Bool

    /// The native ack for request `id`: with the `seq` when the publish carried an idempotency
    /// key (a client that retries needs it), the plain ack otherwise.
    func ack(id: ByteBuffer, keyed: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        keyed ? ServerMessage.ack(id: id, seq: seq, duplicate: duplicate, allocator: allocator) : ServerMessage.ack(id: id, allocator: allocator)
    }
}

/// One message on its way to a channel's subscribers, whichever protocol each of them speaks.
///
/// The owning shard numbers it and encodes the native frame once; each shard with Pusher
/// subscribers on the channel encodes the Pusher frame once for all of them.
struct Publication: Sendable {
    enum Kind: Sendable {
        /// A message: a native publish (named by its optional `event`), a Pusher client event
        /// (`user` is the sender's presence user id) or a REST API trigger.
        case message(event: String?, user: String?)
        /// A user's first connection joined the presence channel.
        case joined(PresenceMember)
        /// A user's last connection left the presence channel.
        case left(PresenceMember)
        /// Messages of the channel never reached this node (clustered): its native subscribers
        /// are told why with a `messages_lost` error, and where the channel's numbering now
        /// stands (`seq` in `epoch`).
        case messagesLost(notice: String, epoch: String?, seq: UInt64)
    }

    /// The hub channel (an app's channels are `"<app id>:<name>"`).
    var channel: String
    var kind: Kind
    /// The message's `data`: one JSON value, forwarded as it is (empty for presence changes).
    var data: ByteBuffer
    /// Who sent it: a client id, a Pusher socket id, `api` or `operator`.
    var from: String
    /// The session that must not receive it, by Pusher socket id or native client id: the
    /// sender of a client event, the `socket_id` of a REST trigger, the connection whose join is
    /// announced.
    var except: String?
    /// The publish's idempotency key, if it carried one (messages only).
    var idempotencyKey: String? = nil

    /// The frame native subscribers get; `seq` numbers messages (presence changes have none).
    func nativeFrame(seq: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer {
        switch kind {
        case .message(let event, let user):
            ServerMessage.message(channel: channel, data: data, from: from, seq: seq, event: event, user: user, allocator: allocator)
        case .joined(let member):
            ServerMessage.presenceChange(joined: true, channel: channel, member: member, allocator: allocator)
        case .left(let member):
            ServerMessage.presenceChange(joined: false, channel: channel, member: member, allocator: allocator)
        case .messagesLost(let notice, let epoch, let seq):
            ServerMessage.messagesLost(channel: channel, message: notice, epoch: epoch, seq: seq, allocator: allocator)
        }
    }

    /// The frame Pusher subscribers get; `name` is the channel's name within its app. Nil when
    /// the protocol has no such message (a loss notice).
    func pusherFrame(name: String, allocator: ByteBufferAllocator) -> ByteBuffer? {
        switch kind {
        case .message(let event, let user):
            PusherFrame.channelEvent(event ?? "message", channel: name, data: data, userID: user, allocator: allocator)
        case .joined(let member):
            PusherFrame.memberAdded(channel: name, member: member, allocator: allocator)
        case .left(let member):
            PusherFrame.memberRemoved(channel: name, userID: member.userID, allocator: allocator)
        case .messagesLost:
            nil
        }
    }
}
