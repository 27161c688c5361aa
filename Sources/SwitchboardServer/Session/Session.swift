import DequeModule
import NIOCore
import NIOWebSocket
import SwitchboardCore

/// One WebSocket client: an actor confined to its channel's event loop.
///
/// It owns its state (subscriptions, rate limit, fragments being reassembled) and its bounded,
/// instrumented outbound mailbox. Inbound frames arrive from the frame decoder; outbound frames
/// arrive from the hub shard as ready-made bytes (encoded once per publish) and are written
/// below any frame encoder. Frames go straight to the socket buffer while the channel is
/// writable and are flushed once per event-loop tick by the shard; only when the client stops
/// reading do they wait in the mailbox, and a full mailbox applies the slow-consumer policy.
///
/// Every method runs on the event loop; the type is `@unchecked Sendable` only so that shard
/// messages can carry a reference across loops to the loop that owns it.
final class Session: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the client speaks.
    enum Route: Sendable {
        /// The native JSON protocol of the hub.
        case hub
        /// Conformance echo (`--echo-route`): every message comes back as it was sent, text as
        /// text and binary as binary. Flow control is backpressure (the socket is not read while
        /// the client is not reading), so the slow-consumer policy does not apply.
        case echo
        /// The Pusher Channels protocol, for one app (`/app/{key}`).
        case pusher(PusherConnection)
        /// A Pusher connection that cannot be served (unknown key, bad protocol version, app
        /// over quota): it gets `pusher:error` with the code and is closed. (Boxed, so every
        /// session's route stays one word.)
        indirect case pusherRefused(CloseCode, String)
    }

    /// Largest message on the echo route, whatever `--max-message-size` says (Autobahn's
    /// cases send 16 MiB).
    static let echoMessageLimit = 16 * 1024 * 1024

    private enum State {
        case open
        /// Our close frame is queued or sent; waiting for the peer's close or end of stream.
        case closing
        case closed
    }

    /// The client id shown to the client and to operators.
    let id: String
    let shard: HubShard
    let route: Route
    /// Who the client is, from its token when authentication is on.
    let identity: ClientIdentity
    /// Largest message this client may send, in bytes (larger: 1009), also once inflated.
    let messageLimit: Int
    /// permessage-deflate terms, when the handshake negotiated compression.
    let deflate: DeflateParameters?
    /// The peer's address, e.g. `127.0.0.1:51234`.
    let remoteAddress: String
    /// The handshake's `User-Agent`, if any.
    let userAgent: String
    /// Wall-clock time of the upgrade, seconds since 1970.
    let connectedAt: Double
    /// Channels this client is subscribed to (at most `maxChannelsPerClient`, so a small array).
    private(set) var channels: [String] = []
    /// The user this client is present as, per presence channel it joined.
    var presenceUsers: [String: String] = [:]

    /// Monotonic time of the last frame received, for the heartbeat.
    private(set) var lastInbound: UInt64
    /// When the heartbeat pinged this client, silent since; nil once anything arrives.
    var unansweredPingSince: UInt64?
    /// Traffic totals, read on this loop when the metrics collector samples the shard.
    private(set) var messagesIn = 0
    private(set) var bytesIn = 0
    private(set) var messagesOut = 0
    private(set) var bytesOut = 0

    private(set) var context: ChannelHandlerContext?
    private var state = State.open
    private var writable = true
    /// Frames waiting for the socket to become writable (empty, and unallocated, while the
    /// client keeps up).
    private var outbox = Deque<ByteBuffer>()
    private var outboxBytes = 0
    private var counts = MailboxCounts()
    private var pendingCloseFrame: ByteBuffer?
    /// This tick's frames on their way to the channel, joined for one write at the flush.
    private var coalescer = FrameCoalescer()
    private var fragments: ByteBuffer?
    private var fragmentsAreText = true
    /// Whether the message being reassembled is compressed (RSV1 on its first frame).
    private var fragmentsCompressed = false
    /// Bytes of the text message being reassembled already known to be complete, valid UTF-8.
    private var fragmentsValidated = 0
    private var bucket: TokenBucket
    /// Splits the client's bytes into frames, with this client's message limit.
    private let parser: FrameParser
    /// The start of a frame whose remaining bytes have not arrived yet.
    private var unparsed: ByteBuffer?
    /// Set once the byte stream broke the framing rules: nothing after that point is parsed.
    private var inputBroken = false
    /// Replies in request order: a slot per reply not yet sent because an earlier one (the ack
    /// of a publish handled on another loop) is still on its way. `nil` marks a pending ack.
    private var replySlots = Deque<ByteBuffer?>()
    private var firstSlotTicket: UInt64 = 0
    /// Set while the session sits in the shard's list of sessions to flush this tick.
    var flushScheduled = false
    /// The code and reason this connection ended with, for the disconnect log line.
    private(set) var closeCode: UInt16?
    private(set) var closeReason = ""
    private(set) var closeInitiatedByServer = false

    init(id: String, shard: HubShard, route: Route, identity: ClientIdentity, deflate: DeflateParameters?, remoteAddress: String, userAgent: String) {
        let configuration = shard.configuration
        self.id = id
        self.shard = shard
        self.route = route
        self.identity = identity
        self.deflate = deflate
        self.messageLimit = Self.messageLimit(on: route, configuration: configuration)
        self.parser = FrameParser(maxPayload: messageLimit)
        self.remoteAddress = remoteAddress
        self.userAgent = userAgent
        self.connectedAt = WallClock.now()
        let now = NIODeadline.now().uptimeNanoseconds
        self.lastInbound = now
        self.bucket = TokenBucket(rate: configuration.publishRate, burst: configuration.publishBurst, now: now)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
        shard.register(self)
        switch route {
        case .hub:
            push(
                ServerMessage.welcome(
                    client: id, user: identity.user, version: SwitchboardVersion.current, heartbeatSeconds: shard.heartbeatSeconds,
                    allocator: context.channel.allocator))
        case .pusher(let connection):
            push(
                PusherFrame.connectionEstablished(
                    socketID: connection.socketID, activityTimeout: shard.heartbeatSeconds, allocator: context.channel.allocator))
        case .pusherRefused(let code, let reason):
            close(code, reason, discardQueued: true)
        case .echo:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The peer finished sending. Whatever state we are in, the conversation is over.
            if closeCode == nil {
                closeCode = 1006
                closeReason = "connection closed without a close frame"
            }
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { drainOutbox() }
        if case .echo = route {
            // Backpressure: read no further requests while their answers cannot be sent.
            context.channel.setOption(ChannelOptions.autoRead, value: writable).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeCode == nil {
            closeCode = 1006
            closeReason = "\(error)"
        }
        context.close(promise: nil)
    }

    /// Takes the client's bytes and handles every complete frame in them; the session parses
    /// them itself rather than behind a decoder handler, which would cost each connection its
    /// own handler, context and buffer state.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !inputBroken else {
            // The framing is lost, so the peer's close frame could never be found: the close
            // frame we sent is all the closing handshake there will be.
            return context.close(promise: nil)
        }
        var bytes = unwrapInboundIn(data)
        if var earlier = unparsed {
            unparsed = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        do {
            while state != .closed, let frame = try parser.next(from: &bytes) {
                handleFrame(WebSocketFrame(frame), context: context)
            }
        } catch {
            inputBroken = true
            switch error {
            case .tooLarge: fail(.messageTooBig, "message larger than \(messageLimit) bytes")
            case .malformed(let reason): fail(.protocolError, reason)
            }
            return
        }
        if bytes.readableBytes > 0 && state != .closed { unparsed = bytes }
    }

    private func handleFrame(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        lastInbound = NIODeadline.now().uptimeNanoseconds
        unansweredPingSince = nil
        switch state {
        case .open: break
        case .closing:
            // Only the peer's close frame matters now; it completes the closing handshake.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        case .closed: return
        }
        guard frame.maskKey != nil else { return fail(.protocolError, "client frames must be masked") }
        guard !frame.rsv2 && !frame.rsv3 else {
            return fail(.protocolError, "reserved bits set without a negotiated extension")
        }
        let startsMessage = frame.opcode == .text || frame.opcode == .binary
        if frame.rsv1 && (deflate == nil || !startsMessage) {
            return fail(.protocolError, deflate == nil ? "RSV1 set without permessage-deflate" : "RSV1 set on a frame that does not start a message")
        }
        switch frame.opcode {
        case .text, .binary:
            guard fragments == nil else { return fail(.protocolError, "new message before the previous one finished") }
            let isText = frame.opcode == .text
            if frame.fin {
                handleMessage(frame.unmaskedData, isText: isText, compressed: frame.rsv1)
            } else {
                fragmentsAreText = isText
                fragmentsCompressed = frame.rsv1
                fragmentsValidated = 0
                fragments = frame.unmaskedData
                failFastOnInvalidText()
            }
        case .continuation:
            guard var buffer = fragments else { return fail(.protocolError, "continuation without a message to continue") }
            fragments = nil
            guard buffer.readableBytes + frame.length <= messageLimit else {
                return fail(.messageTooBig, "message larger than \(messageLimit) bytes")
            }
            var part = frame.unmaskedData
            buffer.writeBuffer(&part)
            if frame.fin {
                handleMessage(buffer, isText: fragmentsAreText, compressed: fragmentsCompressed)
            } else {
                fragments = buffer
                failFastOnInvalidText()
            }
        case .ping:
            push(WireFrame.make(.pong, payload: frame.unmaskedData.readableBytesView, allocator: context.channel.allocator))
        case .pong:
            break
        case .connectionClose:
            answerClose(frame.unmaskedData)
        default:
            fail(.protocolError, "unknown opcode")
        }
    }

    /// Fails a fragmented text message as soon as its bytes so far cannot be UTF-8, rather than
    /// when it ends (RFC 6455 §8.1 "fail fast"). Compressed messages are checked once inflated.
    private func failFastOnInvalidText() {
        guard fragmentsAreText, !fragmentsCompressed, let buffer = fragments else { return }
        let checked = buffer.withUnsafeReadableBytes { bytes in
            UTF8Validation.completePrefixLength(UnsafeRawBufferPointer(rebasing: bytes[fragmentsValidated...]))
        }
        guard let checked else { return fail(.invalidPayload, "text frame is not valid UTF-8") }
        fragmentsValidated += checked
    }

    // MARK: - Requests

    /// The message that makes a session fail when fault injection is on (tests only).
    static let injectedFault = #"{"type":"debug_fail"}"#

    /// Largest message a client on `route` may send.
    static func messageLimit(on route: Route, configuration: HubConfiguration) -> Int {
        switch route {
        case .hub, .pusher, .pusherRefused: configuration.maxMessageBytes
        case .echo: max(configuration.maxMessageBytes, echoMessageLimit)
        }
    }

    private func handleMessage(_ received: ByteBuffer, isText: Bool, compressed: Bool) {
        var data = received
        if compressed {
            do {
                data = try shard.compression.inflate(received, limit: messageLimit, allocator: context!.channel.allocator)
            } catch .tooLarge {
                return fail(.messageTooBig, "message larger than \(messageLimit) bytes once inflated")
            } catch {
                return fail(.invalidPayload, "compressed message is not a valid deflate stream")
            }
        }
        if isText, !data.withUnsafeReadableBytes(UTF8Validation.isValid) {
            return fail(.invalidPayload, "text frame is not valid UTF-8")
        }
        shard.countInbound(bytes: data.readableBytes)
        messagesIn += 1
        bytesIn += data.readableBytes
        switch route {
        case .hub:
            guard isText else { return fail(.unsupportedData, "binary frames are not supported; send JSON text") }
            handleRequest(data)
        case .pusher(let connection):
            guard isText else { return fail(.unsupportedData, "binary frames are not supported; send JSON text") }
            handlePusherMessage(data, connection: connection)
        case .pusherRefused:
            break
        case .echo:
            let opcode: WireFrame.Opcode = isText ? .text : .binary
            let allocator = context!.channel.allocator
            let compressed = deflate.flatMap {
                shard.compression.compressedFrame(opcode, payload: data, windowBits: $0.serverWindowBits, allocator: allocator)
            }
            push(compressed ?? WireFrame.make(opcode, payload: data.readableBytesView, allocator: allocator))
        }
    }

    /// Answers one native-protocol request (a complete, valid UTF-8 text message).
    private func handleRequest(_ data: ByteBuffer) {
        if shard.configuration.faultInjection, data.readableBytesView.elementsEqual(Self.injectedFault.utf8) {
            // Test-only: behave as if processing this message had failed inside the session.
            shard.report(.error, client: id, code: Int(CloseCode.internalError.rawValue), detail: "injected session failure")
            return fail(.internalError, "internal error")
        }
        let allocator = context!.channel.allocator
        func slice(_ span: JSONScanner.Span?) -> ByteBuffer? {
            span.flatMap { data.getSlice(at: data.readerIndex + $0.start, length: $0.count) }
        }
        let request: ClientRequest
        switch data.withUnsafeReadableBytes({ ClientRequest.decode($0) }) {
        case .success(let decoded): request = decoded
        case .failure(let error):
            reply(ServerMessage.error(error, id: slice(error.id), allocator: allocator))
            return
        }
        let id = slice(request.id)
        switch request.kind {
        case .subscribe(let channel, _), .publish(let channel, _), .presence(let channel):
            guard identity.permits(channel) else {
                let error = ProtocolError(.forbidden, "your token does not grant channel \"\(channel)\"")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
            if shard.hub.isProtectedPusherChannel(channel) && !identity.grantsExplicitly(channel) {
                let error = ProtocolError(.forbidden, "\"\(channel)\" is a Pusher app's private or presence channel; it needs a token that grants it")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
        case .unsubscribe, .ping: break
        }
        switch request.kind {
        case .subscribe(let channel, let presence):
            guard addSubscription(channel) else {
                let error = ProtocolError(
                    .tooManyChannels, "a client may subscribe to at most \(shard.configuration.maxChannelsPerClient) channels")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
            if presence {
                let member = PresenceMember(userID: identity.user ?? self.id, info: nil)
                guard becomePresent(member, in: channel, limit: shard.configuration.maxPresenceMembers) else {
                    let error = ProtocolError(.presenceFull, "\"\(channel)\" already has \(shard.configuration.maxPresenceMembers) users present")
                    return reply(ServerMessage.error(error, id: id, allocator: allocator))
                }
            }
            reply(ServerMessage.subscribed(channel: channel, id: id, allocator: allocator))
        case .unsubscribe(let channel):
            guard removeSubscription(channel) else {
                let error = ProtocolError(.notSubscribed, "not subscribed to \"\(channel)\"")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
            reply(ServerMessage.unsubscribed(channel: channel, id: id, allocator: allocator))
        case .presence(let channel):
            reply(ServerMessage.presence(channel: channel, members: shard.hub.presentMembers(of: channel), id: id, allocator: allocator))
        case .publish(let channel, let span):
            guard bucket.take(now: lastInbound) else {
                let error = ProtocolError(.rateLimited, "publish rate limit is \(Int(shard.configuration.publishRate)) messages per second")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
            let publication = Publication(
                channel: channel, kind: .message(event: request.event, user: nil), data: slice(span)!, from: self.id, except: nil)
            if let rejection = shard.publish(publication, from: self, ackID: id) {
                reply(ServerMessage.error(rejection, id: id, allocator: allocator))
            }
        case .ping:
            reply(ServerMessage.pong(id: id, allocator: allocator))
        }
    }

    // MARK: - Subscriptions

    /// Subscribes to a hub channel (nothing to do when already subscribed); false when the
    /// client is at its channel limit.
    func addSubscription(_ channel: String) -> Bool {
        if channels.contains(channel) { return true }
        guard channels.count < shard.configuration.maxChannelsPerClient else { return false }
        channels.append(channel)
        shard.subscribe(self, to: channel)
        return true
    }

    /// Makes this subscribed client present in `channel` as `member`, once; false when the
    /// channel already holds `limit` users, in which case the subscription is undone.
    func becomePresent(_ member: PresenceMember, in channel: String, limit: Int) -> Bool {
        guard presenceUsers[channel] == nil else { return true }
        guard shard.hub.joinPresence(member, channel: channel, session: self, limit: limit) else {
            _ = removeSubscription(channel)
            return false
        }
        presenceUsers[channel] = member.userID
        return true
    }

    /// Leaves a hub channel (and its presence, if the client was present); false when the
    /// client was not subscribed.
    func removeSubscription(_ channel: String) -> Bool {
        guard let index = channels.firstIndex(of: channel) else { return false }
        channels.remove(at: index)
        shard.unsubscribe(self, from: channel)
        return true
    }

    // MARK: - Replies in request order

    /// Sends a reply to a request, after any earlier reply still pending.
    func reply(_ frame: ByteBuffer) {
        if replySlots.isEmpty {
            push(frame)
        } else {
            replySlots.append(frame)
        }
    }

    /// Holds a place for a reply that another loop will produce; returns its ticket.
    func reserveReply() -> UInt64 {
        replySlots.append(nil)
        return firstSlotTicket + UInt64(replySlots.count - 1)
    }

    /// Fills a reserved place and sends every reply that is now unblocked.
    func fillReply(ticket: UInt64, with frame: ByteBuffer) {
        guard ticket >= firstSlotTicket, ticket - firstSlotTicket < UInt64(replySlots.count) else { return }
        replySlots[Int(ticket - firstSlotTicket)] = frame
        while let first = replySlots.first, let ready = first {
            replySlots.removeFirst()
            firstSlotTicket += 1
            push(ready)
        }
    }

    // MARK: - Outbound mailbox

    /// Queues a frame for the client (a fan-out delivery or a reply). Called on the loop.
    ///
    /// A fan-out delivery to a channel with several subscribers also says where the frame lies
    /// in the channel's ``TickBatch``, so that consecutive deliveries can be written as one
    /// slice of shared bytes.
    func push(_ frame: ByteBuffer, batch: TickBatch? = nil, range: Range<Int> = 0..<0) {
        guard state == .open, let context else { return }
        counts.enqueued += 1
        if outbox.isEmpty && writable {
            send(frame, batch: batch, range: range, context: context)
            counts.dequeued += 1
            messagesOut += 1
            bytesOut += frame.readableBytes
            shard.countOutbound(bytes: frame.readableBytes)
            scheduleFlush()
            return
        }
        let configuration = shard.configuration
        let size = frame.readableBytes
        if !isEcho, outbox.count >= configuration.outboundQueueFrames || outboxBytes + size > configuration.outboundQueueBytes {
            switch configuration.slowConsumerPolicy {
            case .close:
                counts.dropped += 1
                shard.countSlowConsumerClose(self)
                return close(.slowConsumer, "slow consumer", discardQueued: true)
            case .dropOldest:
                while let oldest = outbox.first,
                    outbox.count >= configuration.outboundQueueFrames || outboxBytes + size > configuration.outboundQueueBytes
                {
                    outboxBytes -= oldest.readableBytes
                    outbox.removeFirst()
                    counts.dropped += 1
                }
            }
        }
        outbox.append(frame)
        outboxBytes += size
        counts.peak = max(counts.peak, outbox.count)
        scheduleFlush()
    }

    /// Hands queued frames to the channel while it stays writable.
    private func drainOutbox() {
        guard let context else { return }
        while writable, let frame = outbox.popFirst() {
            outboxBytes -= frame.readableBytes
            counts.dequeued += 1
            messagesOut += 1
            bytesOut += frame.readableBytes
            shard.countOutbound(bytes: frame.readableBytes)
            send(frame, context: context)
        }
        if outbox.isEmpty, writable, let closeFrame = pendingCloseFrame {
            pendingCloseFrame = nil
            send(closeFrame, context: context)
        }
        scheduleFlush()
    }

    /// Hands a frame to the channel, after every frame handed over before it; the coalescer
    /// decides what is written now and what waits for the flush. A fan-out frame also comes
    /// with its place in the channel's ``TickBatch``.
    private func send(_ frame: ByteBuffer, batch: TickBatch? = nil, range: Range<Int> = 0..<0, context: ChannelHandlerContext) {
        let (first, then) = if let batch { coalescer.add(frame, at: range, of: batch) } else { coalescer.add(frame) }
        if let first { context.write(wrapOutboundOut(first), promise: nil) }
        if let then { context.write(wrapOutboundOut(then), promise: nil) }
    }

    /// Writes the frames held back so far to the channel.
    private func handOverCoalesced(_ context: ChannelHandlerContext) {
        if let bytes = coalescer.take() { context.write(wrapOutboundOut(bytes), promise: nil) }
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        shard.scheduleFlush(self)
    }

    /// Flushes everything written this tick in one go. Called by the shard once per tick.
    func flush() {
        flushScheduled = false
        guard let context else { return }
        handOverCoalesced(context)
        context.flush()
    }

    /// The Pusher connection's state, when the client speaks Pusher.
    var pusher: PusherConnection? {
        if case .pusher(let connection) = route { connection } else { nil }
    }

    /// Whether the client speaks the Pusher protocol (its frames and close codes are Pusher's).
    var speaksPusher: Bool {
        switch route {
        case .pusher, .pusherRefused: true
        case .hub, .echo: false
        }
    }

    /// Whether this is a conformance echo session (flow control by backpressure, no mailbox bound).
    private var isEcho: Bool {
        if case .echo = route { true } else { false }
    }

    /// Number of frames waiting in the mailbox.
    var queuedFrames: Int { outbox.count }

    /// Whether the session still takes messages (not closing).
    var isOpen: Bool { state == .open }

    /// The outbound mailbox's figures now. Loop only: sessions are read where they live, so the
    /// hot path keeps plain counters and publishes nothing.
    var mailboxCounts: MailboxCounts {
        var mailbox = counts
        mailbox.depth = outbox.count
        mailbox.queuedBytes = outboxBytes
        return mailbox
    }

    /// This client as operators see it. Loop only.
    func row(monotonicNow: UInt64, wallNow: Double) -> ClientRow {
        ClientRow(
            id: id, remoteAddress: remoteAddress, userAgent: userAgent, connectedAt: connectedAt,
            lastActivity: wallNow - Double(monotonicNow &- lastInbound) / 1e9, channels: channels,
            messagesIn: messagesIn, messagesOut: messagesOut, bytesIn: bytesIn, bytesOut: bytesOut, rate: 0,
            mailbox: mailboxCounts, mailboxCapacity: shard.configuration.outboundQueueFrames,
            pusherApp: pusher?.app.id, socketID: pusher?.socketID, user: shownUser
        )
    }

    /// The user operators see: the token's subject or Pusher sign-in, else the presence user ids.
    private var shownUser: String? {
        if let user = identity.user ?? pusher?.signedInUser { return user }
        let present = Set(presenceUsers.values).sorted()
        return present.isEmpty ? nil : present.joined(separator: ",")
    }

    /// Running totals for per-client rates. Loop only.
    var counter: ClientCounter {
        ClientCounter(id: id, messages: messagesIn + messagesOut)
    }

    // MARK: - Closing

    /// Closes the connection politely: queued frames (unless discarded) and then a close frame
    /// go out, and the peer has `closeTimeout` to answer before the socket is closed.
    ///
    /// A Pusher client is told why in a `pusher:error` first, with the close code that makes
    /// Pusher clients reconnect or not (``CloseCode/forPusher``).
    func close(_ code: CloseCode, _ reason: String, discardQueued: Bool) {
        guard state == .open, let context else { return }
        let allocator = context.channel.allocator
        let code = speaksPusher ? code.forPusher : code
        beginClosing(code: code.rawValue, reason: reason, byServer: true, discardQueued: discardQueued)
        var closing = WireFrame.close(code: code.rawValue, reason: reason, allocator: allocator)
        if speaksPusher {
            var error = PusherFrame.error(code: Int(code.rawValue), message: reason, allocator: allocator)
            error.writeBuffer(&closing)
            closing = error
        }
        pendingCloseFrame = closing
        drainOutbox()
        context.eventLoop.assumeIsolated().scheduleTask(in: .init(shard.configuration.closeTimeout)) { [weak self] in
            self?.context?.close(promise: nil)
        }
    }

    /// Leaves every channel and stops taking messages; the close frame comes next.
    private func beginClosing(code: UInt16, reason: String, byServer: Bool, discardQueued: Bool) {
        state = .closing
        closeCode = code
        closeReason = reason
        closeInitiatedByServer = byServer
        shard.unsubscribeAll(self)
        channels.removeAll()
        if discardQueued {
            counts.dropped += outbox.count
            outbox.removeAll()
            outboxBytes = 0
        }
    }

    /// Fails the connection after a protocol violation: a close frame, then end of stream.
    private func fail(_ code: CloseCode, _ reason: String) {
        guard state == .open, let context else { return }
        beginClosing(code: code.rawValue, reason: reason, byServer: true, discardQueued: true)
        fragments = nil
        let frame = WireFrame.close(code: code.rawValue, reason: reason, allocator: context.channel.allocator)
        handOverCoalesced(context)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { [weak self] _ in
            self?.context?.close(mode: .output, promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: .init(shard.configuration.closeTimeout)) { [weak self] in
            self?.context?.close(promise: nil)
        }
    }

    /// The peer started the closing handshake: answer with its code (or 1002 / 1007 for a
    /// malformed close frame) and close once the answer is written.
    private func answerClose(_ payload: ByteBuffer) {
        guard let context else { return }
        var payload = payload
        var reply: UInt16 = CloseCode.normal.rawValue
        var replyReason = ""
        switch payload.readableBytes {
        case 0:
            closeCode = 1005
        case 1:
            reply = CloseCode.protocolError.rawValue
            replyReason = "close frame payload of one byte"
        default:
            let code = payload.readInteger(as: UInt16.self)!
            closeCode = code
            if !CloseCode.isValidFromPeer(code) {
                reply = CloseCode.protocolError.rawValue
                replyReason = "invalid close code \(code)"
            } else if !payload.withUnsafeReadableBytes(UTF8Validation.isValid) {
                reply = CloseCode.invalidPayload.rawValue
                replyReason = "close reason is not valid UTF-8"
            } else {
                reply = code
                closeReason = String(buffer: payload)
            }
        }
        beginClosing(code: closeCode ?? 1005, reason: closeReason, byServer: false, discardQueued: true)
        let frame = WireFrame.close(code: reply, reason: replyReason, allocator: context.channel.allocator)
        handOverCoalesced(context)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { [weak self] _ in
            self?.context?.close(promise: nil)
        }
    }

    /// Closes the socket now, whatever is still queued (shutdown deadline passed).
    func forceClose() {
        if closeCode == nil {
            closeCode = CloseCode.goingAway.rawValue
            closeReason = "shutdown deadline"
        }
        context?.close(promise: nil)
    }

    /// Leaves the hub exactly once, whichever way the connection ended.
    private func finish() {
        guard state != .closed else { return }
        state = .closed
        outbox.removeAll()
        outboxBytes = 0
        coalescer.discard()
        shard.unregister(self)
    }
}
