import DequeModule
import NIOCore
import NIOWebSocket
import SwitchboardCore

/// One WebSocket client: an actor confined to its channel's event loop.
///
/// What a session decides lives in value types that return actions, and the session performs
/// them: ``MessageAssembler`` turns bytes into messages (framing, fragments, UTF-8, reserved bits,
/// the size limit before and after inflation), ``OutboundMailbox`` bounds what waits for a slow
/// socket and applies the slow-consumer policy, ``ReplyOrder`` keeps replies in request order,
/// ``CloseHandshake`` is the one state of the connection's end, ``Heartbeat`` says when to ping
/// and when to give up, and ``FrameCoalescer`` joins a tick's small frames into one write.
///
/// A session talks only to its ``HubShard``, through a narrow interface (subscribe, join
/// presence, publish, counters); the shard owns subscriptions and presence membership.
/// Outbound frames arrive from the shard as ready-made bytes (encoded once per publish) and are
/// written below any frame encoder, flushed once per event-loop tick by the shard.
///
/// Every method runs on the event loop; the type is `@unchecked Sendable` only so that shard
/// messages can carry a reference across loops to the loop that owns it.
final class Session: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the client speaks.
    enum Route: Sendable {
        /// The native JSON protocol.
        case native
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

    /// The client's number, whose text in base 36 is its id (see ``Hub/clientID(of:)``).
    let number: UInt64
    /// The client id shown to the client and to operators.
    let id: String
    let shard: HubShard
    let route: Route
    /// Who the client is, from its token when authentication is on; a valid `refresh` replaces
    /// it (``refresh(with:id:)``).
    var identity: ClientIdentity
    /// permessage-deflate terms, when the handshake negotiated compression.
    let deflate: DeflateParameters?
    /// The peer's address, e.g. `127.0.0.1:51234`.
    let remoteAddress: String
    /// The address as the client table orders it (``RemoteAddressRank``).
    let remoteRank: UInt64
    /// The handshake's `User-Agent`, if any.
    let userAgent: String
    /// Wall-clock time of the upgrade, seconds since 1970.
    let connectedAt: Double
    /// Channels this client is subscribed to (at most `maxChannelsPerClient`, so a small array).
    /// Written only by ``HubShard``, in the same step as its subscriber index.
    var channels: [String] = []
    /// Deliveries (with their `seq`) of channels whose subscription reply is not sent yet, held
    /// so the client hears `subscribed` (and a replay) first. Nil while nothing is pending (one
    /// check per delivery).
    private var heldBack: [String: [(seq: UInt64, frame: ByteBuffer)]]?
    /// Resuming subscriptions' missed messages, in the order their replies were sent: they go
    /// out as fast as the socket takes them (a replay may be longer than the mailbox's bound),
    /// then each channel's held deliveries follow.
    var replays = Deque<Replay>()

    struct Replay {
        let channel: String
        var entries: ArraySlice<ChannelHistory.Entry>
        /// The position the reply gave: held deliveries up to it are dropped.
        let position: UInt64
    }

    /// Traffic totals, read on this loop when the metrics collector samples the shard.
    private(set) var messagesIn = 0
    private(set) var bytesIn = 0
    private(set) var messagesOut = 0
    private(set) var bytesOut = 0
    /// Messages per second in + out between the metrics collector's last two samples.
    var rate = 0.0
    /// The figures at the metrics collector's last sample: messages in + out, the last inbound
    /// frame's time, the mailbox depth.
    var sampledMessages = 0
    var sampledActivity: UInt64 = 0
    var sampledDepth = 0

    private(set) var context: ChannelHandlerContext?
    private var assembler: MessageAssembler
    var mailbox = OutboundMailbox()
    /// The mailbox depth the shard last heard of (see ``reportDepth()``).
    private var reportedDepth = 0
    private var replies = ReplyOrder()
    private(set) var closing = CloseHandshake()
    private(set) var heartbeat: Heartbeat
    /// This tick's frames on their way to the channel, joined for one write at the flush.
    private var coalescer = FrameCoalescer()
    var bucket: TokenBucket
    /// Our close frame, waiting behind the frames a polite close lets out first.
    private var pendingCloseFrame: ByteBuffer?
    private var writable = true
    /// Set while the session sits in the shard's list of sessions to flush this tick.
    var flushScheduled = false
    /// Requests read while the application's backend is being asked about an earlier one: they
    /// are handled in order once it answered (nil while nothing is asked; see `Session+Proxy`).
    var proxyBacklog: Deque<ByteBuffer>?
    /// The traces following this client; nil (one check per frame) while none does.
    var taps: [TraceSink]?

    init(
        number: UInt64, id: String, shard: HubShard, route: Route, identity: ClientIdentity, deflate: DeflateParameters?, remoteAddress: String,
        remoteRank: UInt64, userAgent: String
    ) {
        let configuration = shard.configuration
        self.number = number
        self.id = id
        self.shard = shard
        self.route = route
        self.identity = identity
        self.deflate = deflate
        self.assembler = MessageAssembler(messageLimit: Self.messageLimit(on: route, configuration: configuration), deflate: deflate != nil)
        self.remoteAddress = remoteAddress
        self.remoteRank = remoteRank
        self.userAgent = userAgent
        self.connectedAt = WallClock.now()
        let now = NIODeadline.now().uptimeNanoseconds
        self.heartbeat = Heartbeat(now: now)
        self.bucket = TokenBucket(rate: configuration.publishRate, burst: configuration.publishBurst, now: now)
    }

    /// Largest message this client may send, in bytes (larger: 1009), also once inflated.
    var messageLimit: Int { assembler.messageLimit }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
        shard.register(self)
        switch route {
        case .native:
            push(
                ServerMessage.welcome(
                    client: id, user: identity.user, version: SwitchboardVersion.current, heartbeatSeconds: shard.heartbeatSeconds,
                    expiresIn: identity.expiresIn(now: connectedAt), allocator: context.channel.allocator))
            scheduleExpiry()
            subscribeServerSideChannels()
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
            closing.transportEnds(code: 1006, reason: "connection closed without a close frame")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable {
            drainMailbox()
            continueReplays()
        }
        if case .echo = route {
            // Backpressure: read no further requests while their answers cannot be sent.
            context.channel.setOption(ChannelOptions.autoRead, value: writable).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closing.transportEnds(code: 1006, reason: "\(error)")
        context.close(promise: nil)
    }

    /// Takes the client's bytes and acts on everything complete in them; the session parses
    /// them itself rather than behind a decoder handler, which would cost each connection its
    /// own handler, context and buffer state.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !assembler.isBroken else {
            // The framing is lost, so the peer's close frame could never be found: the close
            // frame we sent is all the closing handshake there will be.
            return context.close(promise: nil)
        }
        heartbeat.heard(at: NIODeadline.now().uptimeNanoseconds)
        var bytes: ByteBuffer? = unwrapInboundIn(data)
        while !closing.isClosed, let action = assembler.next(from: &bytes) {
            perform(action, context: context)
        }
    }

    /// Performs what the assembler found. While closing, only the peer's close frame matters.
    private func perform(_ action: MessageAssembler.Action, context: ChannelHandlerContext) {
        if taps != nil { traceInbound(action) }
        guard closing.isOpen else {
            if case .close = action { context.close(promise: nil) }
            return
        }
        switch action {
        case .message(let data, let isText):
            handleMessage(data, isText: isText)
        case .compressedMessage(let compressed, let isText):
            let inflated: MessageAssembler.Action
            do {
                let data = try shard.compression.inflate(compressed, limit: messageLimit, allocator: context.channel.allocator)
                inflated = assembler.admitInflated(data, isText: isText)
            } catch {
                inflated = assembler.failInflating(tooLarge: error == .tooLarge)
            }
            perform(inflated, context: context)
        case .ping(let payload):
            push(WireFrame.make(.pong, payload: payload.readableBytesView, allocator: context.channel.allocator))
        case .pong:
            break
        case .close(let payload):
            answerClose(payload, context: context)
        case .fail(let code, let reason):
            fail(code, reason)
        }
    }

    // MARK: - Requests

    /// The message that makes a session fail when fault injection is on (tests only).
    static let injectedFault = #"{"type":"debug_fail"}"#

    /// Largest message a client on `route` may send.
    static func messageLimit(on route: Route, configuration: HubConfiguration) -> Int {
        switch route {
        case .native, .pusher, .pusherRefused: configuration.maxMessageBytes
        case .echo: max(configuration.maxMessageBytes, echoMessageLimit)
        }
    }

    /// Handles one complete message (valid UTF-8 when text, within the limit once inflated).
    private func handleMessage(_ data: ByteBuffer, isText: Bool) {
        shard.countInbound(bytes: data.readableBytes)
        messagesIn += 1
        bytesIn += data.readableBytes
        switch route {
        case .native:
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

    // MARK: - Replies in request order

    /// Sends a reply to a request, after any earlier reply still pending.
    func reply(_ frame: ByteBuffer) {
        if let now = replies.reply(frame) { push(now) }
    }

    /// Holds a place for a reply that another loop will produce; returns its ticket.
    func reserveReply() -> UInt64 {
        replies.reserve()
    }

    /// Fills a reserved place and sends every reply that is now unblocked; `then` runs right
    /// after this reply is sent. An empty frame fills a place that needs no reply after all (an
    /// unacked publish).
    func fillReply(ticket: UInt64, with frame: ByteBuffer, then: (() -> Void)? = nil) {
        replies.fill(ticket: ticket, with: frame, then: then)
        while let ready = replies.nextReady() {
            if ready.frame.readableBytes > 0 { push(ready.frame) }
            ready.then?()
        }
    }

    // MARK: - Deliveries held until the subscription reply

    /// A fan-out delivery of `channel` (message `seq`; 0 for presence changes): pushed, or held
    /// while the channel's subscription reply is on its way (a held backlog beyond the mailbox
    /// bound closes the client as slow). The shard calls this only for channels some of its
    /// sessions hold back (``HubShard/channelsHeldBack``); other deliveries are pushed straight away.
    func deliver(_ frame: ByteBuffer, seq: UInt64, on channel: String) {
        guard heldBack?[channel] != nil else { return enqueue(frame) }
        heldBack![channel]!.append((seq, frame))
        if heldBack![channel]!.count > shard.configuration.outboundQueueFrames {
            dropHeldDeliveries()
            shard.countSlowConsumerClose(self)
            close(.slowConsumer, "slow consumer", discardQueued: true)
        }
    }

    /// Holds `channel`'s deliveries until ``releaseDeliveries(of:send:after:)``.
    func holdDeliveries(of channel: String) {
        guard heldBack?[channel] == nil else { return }
        heldBack = heldBack ?? [:]
        heldBack![channel] = []
        shard.deliveriesHeld(of: channel)
    }

    /// Forgets every held delivery (the client is closing).
    private func dropHeldDeliveries() {
        guard let held = heldBack else { return }
        heldBack = nil
        for channel in held.keys { shard.deliveriesReleased(of: channel) }
    }

    /// Sends what was held for `channel` (after its subscription reply) except messages up to
    /// `seq` (the position the reply gave, already replayed or before the subscription), or drops
    /// it all when the subscription failed (`send` false).
    func releaseDeliveries(of channel: String, send: Bool, after seq: UInt64 = 0) {
        guard let held = heldBack?.removeValue(forKey: channel) else { return }
        if heldBack?.isEmpty == true { heldBack = nil }
        shard.deliveriesReleased(of: channel)
        guard send else { return }
        for delivery in held where delivery.seq == 0 || delivery.seq > seq { enqueue(delivery.frame) }
    }

    /// Pushes replayed messages while the socket takes them without queueing; a replay that is
    /// done lets its channel's held deliveries go. Runs again when the socket is writable.
    func continueReplays() {
        while var replay = replays.first {
            // Unsubscribed meanwhile: the rest of the replay is not wanted.
            if !channels.contains(replay.channel) { replay.entries = [] }
            // A replayed message is this client's alone: traced here (as a delivery), not by the shard.
            while writable && mailbox.isEmpty && closing.isOpen, let entry = replay.entries.popFirst() { push(entry.frame) }
            guard replay.entries.isEmpty else {
                replays[replays.startIndex] = replay
                return
            }
            replays.removeFirst()
            releaseDeliveries(of: replay.channel, send: channels.contains(replay.channel), after: replay.position)
            if !closing.isOpen { return }
        }
    }

    // MARK: - Outbound mailbox

    /// Queues a frame that is not a fan-out delivery (a reply, a ping, a pong): traced when
    /// the client is.
    func push(_ frame: ByteBuffer) {
        if taps != nil { traceOutbound(frame) }
        enqueue(frame)
    }

    /// Queues a frame for the client (a fan-out delivery, or a reply from ``push(_:)``). Called
    /// on the loop; the shard traces deliveries, once per publication.
    ///
    /// A fan-out delivery to a channel with several subscribers also says where the frame lies
    /// in the channel's ``TickBatch``, so that consecutive deliveries can be written as one
    /// slice of shared bytes.
    func enqueue(_ frame: ByteBuffer, batch: TickBatch? = nil, range: Range<Int> = 0..<0) {
        guard closing.isOpen, let context else { return }
        switch mailbox.push(frame, writable: writable, limits: mailboxLimits) {
        case .write:
            send(frame, batch: batch, range: range, context: context)
            countOutbound(frame)
        case .queued:
            reportDepth()
        case .closeSlowConsumer:
            shard.countSlowConsumerClose(self)
            return close(.slowConsumer, "slow consumer", discardQueued: true)
        }
        scheduleFlush()
    }

    /// The mailbox's bounds: none on the echo route, whose flow control is backpressure.
    private var mailboxLimits: OutboundMailbox.Limits? {
        if case .echo = route { return nil }
        let configuration = shard.configuration
        return OutboundMailbox.Limits(
            frames: configuration.outboundQueueFrames, bytes: configuration.outboundQueueBytes, policy: configuration.slowConsumerPolicy)
    }

    private func countOutbound(_ frame: ByteBuffer) {
        messagesOut += 1
        bytesOut += frame.readableBytes
        shard.countOutbound(bytes: frame.readableBytes)
    }

    /// Tells the shard how the mailbox's depth moved since it last heard: the shard keeps its
    /// total and which mailboxes hold frames, so the dashboard reads them without visiting
    /// every session.
    private func reportDepth() {
        let depth = mailbox.depth
        guard depth != reportedDepth else { return }
        shard.mailboxDepthChanged(self, from: reportedDepth, to: depth)
        reportedDepth = depth
    }

    /// Hands queued frames to the channel while it stays writable, then the close frame that
    /// waited behind them.
    private func drainMailbox() {
        guard let context else { return }
        while writable, let frame = mailbox.pop() {
            countOutbound(frame)
            send(frame, context: context)
        }
        reportDepth()
        if mailbox.isEmpty, writable, let closeFrame = pendingCloseFrame {
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
        shard.eventLoop.assertInEventLoop()
        flushScheduled = false
        guard let context else { return }
        handOverCoalesced(context)
        context.flush()
    }

    /// Number of frames waiting in the mailbox.
    var queuedFrames: Int { mailbox.depth }

    /// Whether the session still takes messages (not closing).
    var isOpen: Bool { closing.isOpen }

    /// The outbound mailbox's figures now. Loop only: sessions are read where they live, so the
    /// hot path keeps plain counters and publishes nothing.
    var mailboxCounts: MailboxCounts { mailbox.figures }

    // MARK: - Heartbeat

    /// Pings the client when it has been silent for `interval`, and closes it when it stayed
    /// silent for an interval after that ping. Called by the shard's heartbeat. Loop only.
    func checkHeartbeat(now: UInt64, interval: UInt64, ping: ByteBuffer) {
        shard.eventLoop.assertInEventLoop()
        switch heartbeat.check(now: now, interval: interval) {
        case .none:
            break
        case .ping:
            push(ping)
        case .giveUp:
            if speaksPusher {
                close(.pusherPongTimeout, "Pong reply not received", discardQueued: true)
            } else {
                close(.goingAway, "heartbeat timeout", discardQueued: true)
            }
        }
    }

    // MARK: - Closing

    /// Closes the connection politely: queued frames (unless discarded) and then a close frame
    /// go out, and the peer has `closeTimeout` to answer before the socket is closed.
    ///
    /// A Pusher client is told why in a `pusher:error` first, with the close code that makes
    /// Pusher clients reconnect or not (``CloseCode/forPusher``).
    func close(_ code: CloseCode, _ reason: String, discardQueued: Bool) {
        close(code: (speaksPusher ? code.forPusher : code).rawValue, reason, discardQueued: discardQueued)
    }

    /// Closes with any code, such as the 4000–4999 an application's proxy answered.
    func close(code: UInt16, _ reason: String, discardQueued: Bool) {
        shard.eventLoop.assertInEventLoop()
        guard let context, closing.serverCloses(code: code, reason: reason) else { return }
        if taps != nil { traceServerClose(code: code, reason: reason) }
        leaveHub(discardQueued: discardQueued)
        let allocator = context.channel.allocator
        var frame = WireFrame.close(code: code, reason: reason, allocator: allocator)
        if speaksPusher {
            var error = PusherFrame.error(code: Int(code), message: reason, allocator: allocator)
            error.writeBuffer(&frame)
            frame = error
        }
        pendingCloseFrame = frame
        drainMailbox()
        closeSocketAfterTimeout(context)
    }

    /// Fails the connection after a protocol violation: a close frame now, then end of stream.
    func fail(_ code: CloseCode, _ reason: String) {
        guard let context, closing.serverCloses(code: code.rawValue, reason: reason) else { return }
        if taps != nil { traceServerClose(code: code.rawValue, reason: reason) }
        leaveHub(discardQueued: true)
        writeCloseFrame(code: code.rawValue, reason: reason, context: context) { context in context.close(mode: .output, promise: nil) }
        closeSocketAfterTimeout(context)
    }

    /// The peer started the closing handshake (or answered ours): answer with its code, or
    /// 1002 / 1007 for a malformed close frame, and close once the answer is written.
    private func answerClose(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        switch closing.peerCloses(payload: payload) {
        case .reply(let code, let reason):
            leaveHub(discardQueued: true)
            writeCloseFrame(code: code, reason: reason, context: context) { context in context.close(promise: nil) }
        case .closeSocket:
            context.close(promise: nil)
        case .ignore:
            break
        }
    }

    /// Closes the socket now, whatever is still queued (shutdown deadline passed).
    func forceClose() {
        closing.transportEnds(code: CloseCode.goingAway.rawValue, reason: "shutdown deadline", byServer: true)
        context?.close(promise: nil)
    }

    /// Stops taking part in the hub as the close begins: leaves every channel (and presence),
    /// and drops what is queued unless the close lets it out first.
    private func leaveHub(discardQueued: Bool) {
        shard.unsubscribeAll(self)
        guard discardQueued else { return }
        mailbox.discard()
        reportDepth()
    }

    /// Writes a close frame after what was coalesced, then runs `then`.
    private func writeCloseFrame(code: UInt16, reason: String, context: ChannelHandlerContext, then: @escaping (ChannelHandlerContext) -> Void) {
        let frame = WireFrame.close(code: code, reason: reason, allocator: context.channel.allocator)
        handOverCoalesced(context)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { [weak self] _ in
            if let context = self?.context { then(context) }
        }
    }

    private func closeSocketAfterTimeout(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(in: .init(shard.configuration.closeTimeout)) { [weak self] in
            self?.context?.close(promise: nil)
        }
    }

    /// Leaves the hub exactly once, whichever way the connection ended.
    private func finish() {
        guard closing.finish() else { return }
        dropHeldDeliveries()
        mailbox.removeAll()
        reportDepth()
        coalescer.discard()
        shard.unregister(self)
    }
}
