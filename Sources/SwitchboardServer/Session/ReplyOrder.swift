import DequeModule
import NIOCore

/// Keeps a session's replies in the order of its requests when some of them are produced on
/// another event loop (the ack of a publish to a channel another shard owns).
///
/// A reply whose turn has come is returned to be sent at once; others wait in a slot. A pending
/// ack holds a place (``reserve()``) until it is filled, and filling it releases every reply
/// queued behind it (``nextReady()``). A filled place may carry what to do right after its reply
/// is sent (a subscription's replay and held deliveries follow its `subscribed`).
struct ReplyOrder {
    /// A reply, and what follows it once it is sent.
    struct Reply {
        let frame: ByteBuffer
        let then: (() -> Void)?
    }

    /// Replies not yet sent because an earlier one is still on its way; `nil` marks a place
    /// reserved for an ack.
    private var slots = Deque<Reply?>()
    /// The ticket of the first slot.
    private var firstTicket: UInt64 = 0

    /// `frame` if it may be sent now; otherwise it is kept until its turn and nil is returned.
    mutating func reply(_ frame: ByteBuffer) -> ByteBuffer? {
        if slots.isEmpty { return frame }
        slots.append(Reply(frame: frame, then: nil))
        return nil
    }

    /// Holds a place for a reply that another loop will produce; returns its ticket.
    mutating func reserve() -> UInt64 {
        slots.append(nil)
        return firstTicket + UInt64(slots.count - 1)
    }

    /// Fills a reserved place; then take what it released with ``nextReady()``. A ticket that is
    /// not reserved (the session was reset) is ignored.
    mutating func fill(ticket: UInt64, with frame: ByteBuffer, then: (() -> Void)? = nil) {
        guard ticket >= firstTicket, ticket - firstTicket < UInt64(slots.count) else { return }
        slots[Int(ticket - firstTicket)] = Reply(frame: frame, then: then)
    }

    /// The next reply whose turn has come, if any.
    mutating func nextReady() -> Reply? {
        guard let first = slots.first, let ready = first else { return nil }
        slots.removeFirst()
        firstTicket += 1
        return ready
    }
}
