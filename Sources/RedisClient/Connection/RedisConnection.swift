public import NIOCore
import NIOConcurrencyHelpers
import DequeModule
import Synchronization

/// A request/reply connection to Redis that heals itself.
///
/// Requests may come from any thread. They are pipelined: each is encoded at once into the
/// batch of the current event-loop tick, and the batch is written and flushed once, so many
/// publishes cost one write and one round trip. Replies are matched to requests in order. Every
/// request has a deadline; a missed one fails everything pending and drops the connection, which
/// is then dialed again with a backoff (capped at two seconds by default).
///
/// Nothing is queued across an outage: while there is no working connection a request fails at
/// once with ``RedisError/unavailable(_:)``, so a caller never believes a request will be
/// carried out later.
public final class RedisConnection: RedisRequests, @unchecked Sendable {
    /// How to reach Redis and how long to wait for it.
    public struct Configuration: Sendable {
        public var address: RedisAddress
        /// How long a request may wait for its reply.
        public var requestDeadline: Duration
        /// The longest wait between two connection attempts.
        public var maximumBackoff: Duration
        /// Shown by `CLIENT LIST` (letters, digits, `-`, `_`, `.`).
        public var clientName: String?
        /// How many replicas must confirm a durable request (``send(_:durable:)``) before it
        /// succeeds: one `WAIT` follows each batch holding durable requests. 0: not asked.
        public var replicaAcknowledgements = 0
        /// How long that `WAIT` waits for the replicas.
        public var replicaTimeout = Duration.seconds(1)

        public init(address: RedisAddress, requestDeadline: Duration = .seconds(2), maximumBackoff: Duration = .seconds(2), clientName: String? = nil)
        {
            self.address = address
            self.requestDeadline = requestDeadline
            self.maximumBackoff = maximumBackoff
            self.clientName = clientName
        }
    }

    /// Figures of the link, for the console, `/api/nodes` and `/metrics`.
    public struct Status: Sendable, Equatable {
        public var isUp: Bool
        /// Requests sent and not yet answered, plus those waiting for this tick's write.
        public var pending: Int
        /// Connections made after the first.
        public var reconnects: Int
        /// Why the link is down, when it is.
        public var lastError: String?
        /// The server the connection is open to (with Sentinel, the master it was given).
        public var server: RedisAddress.Endpoint?

        public init(isUp: Bool, pending: Int, reconnects: Int, lastError: String?, server: RedisAddress.Endpoint?) {
            self.isUp = isUp
            self.pending = pending
            self.reconnects = reconnects
            self.lastError = lastError
            self.server = server
        }
    }

    public let configuration: Configuration
    public let eventLoop: any EventLoop
    private let dialer: RedisDialer
    private let submissions = NIOLockedValueBox(Submissions())
    private let up = Atomic<Bool>(false)
    private let pendingCount = Atomic<Int>(0)
    private let reconnectCount = Atomic<Int>(0)
    /// The dialer's endpoint while connected, for ``status`` (read from any thread).
    private let server = NIOLockedValueBox<RedisAddress.Endpoint?>(nil)
    private let lastError = NIOLockedValueBox<String?>("not connected yet")
    /// Scripts loaded on every new connection before it takes requests.
    private let scripts = NIOLockedValueBox<[RedisScript]>([])
    /// Called on the loop each time a connection is ready (after the first, too): the owner
    /// re-registers what Redis must know of it.
    private let readyHandlers = NIOLockedValueBox<[@Sendable () -> Void]>([])
    private let lostHandlers = NIOLockedValueBox<[@Sendable (String) -> Void]>([])

    // Loop-confined.
    private var inFlight = Deque<InFlight>()
    private var connections = 0
    private var deadlineTimer: RepeatedTask?

    private struct Submissions {
        var bytes = ByteBuffer()
        var promises: [EventLoopPromise<RESPValue>] = []
        /// Durable requests of the batch: their reply, and the caller's promise, kept until the
        /// batch's `WAIT` has answered.
        var durable: [(reply: EventLoopFuture<RESPValue>, caller: EventLoopPromise<RESPValue>)] = []
        var flushScheduled = false
    }

    private struct InFlight {
        let promise: EventLoopPromise<RESPValue>
        let deadline: NIODeadline
    }

    public init(configuration: Configuration, eventLoop: any EventLoop) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.dialer = RedisDialer(address: configuration.address, eventLoop: eventLoop, backoff: Backoff(maximum: configuration.maximumBackoff))
        dialer.onValue = { [weak self] value in self?.received(value) }
        dialer.onUp = { [weak self] channel in self?.connected(channel) }
        dialer.onDown = { [weak self] why in self?.disconnected(why) }
    }

    /// Starts connecting; requests succeed once a connection is ready.
    /// Moves to `master` when connected elsewhere (the sentinels announced a failover).
    public func follow(_ master: RedisAddress.Endpoint) {
        eventLoop.execute { self.dialer.follow(master) }
    }

    public func start() {
        eventLoop.execute { self.dialer.start() }
    }

    /// Closes the connection for good; pending requests fail now (not when the channel's close
    /// is reported, which may come after the last reference to this connection is gone).
    public func stop() async {
        try? await eventLoop.submit {
            self.dialer.stop()
            self.disconnected("the connection was stopped")
        }.get()
    }

    /// Requests sent and not yet answered, plus those waiting for this tick's write.
    public var pending: Int { pendingCount.load(ordering: .relaxed) }

    /// Whether a connection is ready for requests right now.
    public var isUp: Bool { up.load(ordering: .relaxed) }

    public var status: Status {
        Status(
            isUp: isUp, pending: pendingCount.load(ordering: .relaxed), reconnects: reconnectCount.load(ordering: .relaxed),
            lastError: isUp ? nil : lastError.withLockedValue { $0 }, server: isUp ? server.withLockedValue { $0 } : nil)
    }

    /// Loads `script` on every connection (now and after each reconnect) before requests flow.
    public func register(_ script: RedisScript) {
        scripts.withLockedValue { $0.append(script) }
    }

    /// Calls `handler` on the connection's loop each time a connection becomes ready.
    public func onReady(_ handler: @escaping @Sendable () -> Void) {
        readyHandlers.withLockedValue { $0.append(handler) }
    }

    /// Calls `handler` on the connection's loop each time a ready connection is lost, with why.
    public func onLost(_ handler: @escaping @Sendable (String) -> Void) {
        lostHandlers.withLockedValue { $0.append(handler) }
    }

    // MARK: - Requests

    /// Sends one command (`["SET", key, value]`); its reply, or why there is none. A `durable`
    /// request succeeds only once ``Configuration/replicaAcknowledgements`` replicas have it
    /// (else it fails with ``RedisError/notReplicated(_:)``).
    public func send(_ parts: [ByteBuffer], durable: Bool = false) -> EventLoopFuture<RESPValue> {
        send(parts, durable: durable, asking: false)
    }

    /// Sends one command; with `asking`, preceded by `ASKING` in the same batch with nothing
    /// between them (a Redis Cluster's `ASK` redirection), and answered with the command's reply.
    func send(_ parts: [ByteBuffer], durable: Bool, asking: Bool) -> EventLoopFuture<RESPValue> {
        let promise = eventLoop.makePromise(of: RESPValue.self)
        guard isUp else {
            promise.fail(RedisError.unavailable(lastError.withLockedValue { $0 } ?? "not connected"))
            return promise.futureResult
        }
        guard durable && configuration.replicaAcknowledgements > 0 else {
            enqueue(parts, promise: promise, asking: asking)
            return promise.futureResult
        }
        let reply = eventLoop.makePromise(of: RESPValue.self)
        enqueue(parts, promise: reply, durableFor: promise, asking: asking)
        return promise.futureResult
    }

    /// Runs `script` with `EVALSHA`; if Redis no longer has it (`NOSCRIPT`: flushed, or a new
    /// server), runs it with `EVAL`, which loads it again.
    public func evaluate(_ script: RedisScript, keys: [ByteBuffer], arguments: [ByteBuffer], durable: Bool = false) -> EventLoopFuture<RESPValue> {
        evaluate(script, keys: keys, arguments: arguments, durable: durable, asking: false)
    }

    /// ``evaluate(_:keys:arguments:durable:)``, each command preceded by `ASKING` when `asking`.
    func evaluate(_ script: RedisScript, keys: [ByteBuffer], arguments: [ByteBuffer], durable: Bool, asking: Bool) -> EventLoopFuture<RESPValue> {
        let count = ByteBuffer(string: String(keys.count))
        let evalsha = [ByteBuffer(string: "EVALSHA"), ByteBuffer(string: script.sha1), count] + keys + arguments
        return send(evalsha, durable: durable, asking: asking).flatMapError { error in
            guard case RedisError.reply(let message) = error, message.hasPrefix("NOSCRIPT") else {
                return self.eventLoop.makeFailedFuture(error)
            }
            let eval = [ByteBuffer(string: "EVAL"), ByteBuffer(string: script.source), count] + keys + arguments
            return self.send(eval, durable: durable, asking: asking)
        }
    }

    private func enqueue(
        _ parts: [ByteBuffer], promise: EventLoopPromise<RESPValue>, durableFor caller: EventLoopPromise<RESPValue>? = nil, asking: Bool
    ) {
        // ASKING's own reply (`OK`) is not waited for: the command's reply says how it went.
        let askingPromise = asking ? eventLoop.makePromise(of: RESPValue.self) : nil
        pendingCount.wrappingAdd(asking ? 2 : 1, ordering: .relaxed)
        let schedule = submissions.withLockedValue { batch in
            if let askingPromise {
                RESPEncoder.command([Self.askingCommand], into: &batch.bytes)
                batch.promises.append(askingPromise)
            }
            RESPEncoder.command(parts, into: &batch.bytes)
            batch.promises.append(promise)
            if let caller { batch.durable.append((promise.futureResult, caller)) }
            defer { batch.flushScheduled = true }
            return !batch.flushScheduled
        }
        if schedule { eventLoop.execute { self.flush() } }
    }

    private static let askingCommand = ByteBuffer(string: "ASKING")

    /// Writes this tick's batch in one write; a batch with durable requests ends with one `WAIT`
    /// for all of them (it covers every write before it on this connection).
    private func flush() {
        var (bytes, promises, durable) = submissions.withLockedValue { batch in
            defer {
                batch.bytes.clear()
                batch.promises.removeAll(keepingCapacity: true)
                batch.durable.removeAll(keepingCapacity: true)
                batch.flushScheduled = false
            }
            return (batch.bytes, batch.promises, batch.durable)
        }
        if !durable.isEmpty {
            let wait = eventLoop.makePromise(of: RESPValue.self)
            let timeout = configuration.replicaTimeout.components
            let milliseconds = max(1, timeout.seconds * 1000 + timeout.attoseconds / 1_000_000_000_000_000)
            RESPEncoder.command(["WAIT", String(configuration.replicaAcknowledgements), String(milliseconds)], into: &bytes)
            promises.append(wait)
            pendingCount.wrappingAdd(1, ordering: .relaxed)
            confirm(durable, after: wait.futureResult)
            durable.removeAll()
        }
        guard let channel = dialer.channel, isUp else {
            fail(promises, with: .unavailable(lastError.withLockedValue { $0 } ?? "connection lost"))
            return
        }
        write(bytes, promises: promises, on: channel)
    }

    /// Completes each durable request's caller once its reply and the batch's `WAIT` are in.
    private func confirm(
        _ durable: [(reply: EventLoopFuture<RESPValue>, caller: EventLoopPromise<RESPValue>)], after wait: EventLoopFuture<RESPValue>
    ) {
        let wanted = configuration.replicaAcknowledgements
        let timeout = configuration.replicaTimeout
        for (reply, caller) in durable {
            reply.and(wait).whenComplete { result in
                switch result {
                case .success((let value, let replicas)):
                    if let count = replicas.int, count >= wanted {
                        caller.succeed(value)
                    } else {
                        caller.fail(RedisError.notReplicated("\(replicas.int ?? 0) of \(wanted) replicas confirmed it within \(timeout)"))
                    }
                case .failure(let error):
                    caller.fail(error)
                }
            }
        }
    }

    private func write(_ bytes: ByteBuffer, promises: [EventLoopPromise<RESPValue>], on channel: any Channel) {
        let deadline = NIODeadline.now() + TimeAmount(configuration.requestDeadline)
        for promise in promises { inFlight.append(InFlight(promise: promise, deadline: deadline)) }
        channel.writeAndFlush(bytes, promise: nil)
    }

    private func fail(_ promises: [EventLoopPromise<RESPValue>], with error: RedisError) {
        guard !promises.isEmpty else { return }
        pendingCount.wrappingSubtract(promises.count, ordering: .relaxed)
        for promise in promises { promise.fail(error) }
    }

    // MARK: - The connection's life (loop only)

    private func received(_ value: RESPValue) {
        guard let head = inFlight.popFirst() else {
            // A reply nobody asked for: the stream is out of step; start again.
            lastError.withLockedValue { $0 = "an unexpected reply" }
            dialer.drop()
            return
        }
        pendingCount.wrappingSubtract(1, ordering: .relaxed)
        if case .error(let message) = value {
            let text = String(buffer: message)
            head.promise.fail(RedisError.reply(text))
            // The server became a replica (a failover): connect again, to the master.
            if text.hasPrefix("READONLY") {
                lastError.withLockedValue { $0 = "the server became a replica: \(text)" }
                dialer.drop()
            }
        } else {
            head.promise.succeed(value)
        }
    }

    /// Sets a new connection up (database, name, scripts) before it takes requests.
    private func connected(_ channel: any Channel) {
        connections += 1
        server.withLockedValue { $0 = dialer.endpoint }
        if connections > 1 { reconnectCount.wrappingAdd(1, ordering: .relaxed) }
        var setup: [[ByteBuffer]] = []
        if configuration.address.database != 0 { setup.append(["SELECT", String(configuration.address.database)].map { ByteBuffer(string: $0) }) }
        if let name = configuration.clientName { setup.append(["CLIENT", "SETNAME", name].map { ByteBuffer(string: $0) }) }
        for script in scripts.withLockedValue({ $0 }) { setup.append(["SCRIPT", "LOAD", script.source].map { ByteBuffer(string: $0) }) }
        var bytes = ByteBuffer()
        var promises: [EventLoopPromise<RESPValue>] = []
        for command in setup {
            RESPEncoder.command(command, into: &bytes)
            promises.append(eventLoop.makePromise())
        }
        pendingCount.wrappingAdd(promises.count, ordering: .relaxed)
        write(bytes, promises: promises, on: channel)
        startDeadlineTimer()
        let ready = EventLoopFuture.andAllSucceed(promises.map(\.futureResult), on: eventLoop)
        ready.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                guard self.dialer.channel === channel else { return }
                self.up.store(true, ordering: .relaxed)
                self.lastError.withLockedValue { $0 = nil }
                for handler in self.readyHandlers.withLockedValue({ $0 }) { handler() }
            case .failure(let error):
                self.lastError.withLockedValue { $0 = "setting up the connection failed: \(error)" }
                channel.close(promise: nil)
            }
        }
    }

    private func disconnected(_ why: String) {
        if up.exchange(false, ordering: .relaxed) {
            for handler in lostHandlers.withLockedValue({ $0 }) { handler(why) }
        }
        lastError.withLockedValue { $0 = why }
        deadlineTimer?.cancel()
        deadlineTimer = nil
        let lost = inFlight
        inFlight.removeAll()
        fail(lost.map(\.promise), with: .noReply(why))
    }

    /// Checks the oldest request's deadline every 100 ms; a missed one drops the connection
    /// (every pending request then fails with ``RedisError/noReply(_:)``).
    private func startDeadlineTimer() {
        deadlineTimer?.cancel()
        deadlineTimer = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) {
            [weak self] _ in
            guard let self, let head = self.inFlight.first, head.deadline < .now() else { return }
            self.lastError.withLockedValue { $0 = "no reply within \(self.configuration.requestDeadline)" }
            self.dialer.drop()
        }
    }
}
