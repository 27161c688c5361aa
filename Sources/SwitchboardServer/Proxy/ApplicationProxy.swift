import AsyncHTTPClient
import Histogram
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import SwitchboardCore

/// How a question to the application's backend came out.
enum ProxyOutcome<Grant: Sendable>: Sendable {
    /// The backend allowed it; what it granted, read from its `result`.
    case granted(Grant)
    /// The backend refused it with a slug and a message for the client.
    case refused(code: String, message: String)
    /// The backend wants the connection closed with this code (4000–4999) and reason.
    case disconnect(code: UInt16, reason: String)
    /// No usable answer: the client is told `unavailable` (or `overloaded`).
    case failed(ProxyFailure)
}

/// Why a request to the backend brought no usable answer (the `reason` label of
/// `switchboard_proxy_failures_total`).
enum ProxyFailure: String, Error, CaseIterable {
    /// No answer within `proxy-timeout` (waiting for a slot included).
    case timeout
    /// The backend could not be reached.
    case unreachable
    /// The backend answered with a status other than 2xx.
    case status
    /// The answer is not one of `result`, `error`, `disconnect`, or its result is not valid.
    case malformed
    /// The circuit breaker is open: the request was not sent.
    case circuitOpen = "circuit_open"
    /// Every slot and every place in the queue was taken: the request was not sent.
    case overloaded

    /// What the client is told.
    var protocolError: ProtocolError {
        switch self {
        case .overloaded: ProtocolError(.overloaded, "the application's backend has too many requests in flight; try again")
        default: ProtocolError(.unavailable, "the application's backend gave no usable answer (\(rawValue)); try again")
        }
    }
}

/// Asks the application's backend (the `proxy-*` URLs) over HTTP with async-http-client: JSON
/// POSTs signed with `X-Switchboard-Signature`, each within `proxy-timeout`, at most
/// `proxy-concurrency` at once (a bounded queue behind them, see ``ProxyGate``), each proxy
/// behind its own ``CircuitBreaker``. Every call returns: nothing waits longer than the timeout.
///
/// Built by the hub only when some proxy URL is set; shut down by the hub's service.
final class ApplicationProxy: Sendable {
    let configuration: ProxyConfiguration
    private let client: HTTPClient
    private let logger: Logger
    private let breakers: Mutex<[ProxyKind: CircuitBreaker]>
    private let gate: Mutex<Gate>
    /// Durations, requests and failures for `/metrics` and the console.
    let statistics = ProxyStatistics()

    /// The gate's state and how to wake each waiting request.
    private struct Gate {
        var slots: ProxyGate
        var waiters: [UInt64: @Sendable (_ granted: Bool) -> Void] = [:]
        var nextTicket: UInt64 = 0
    }

    /// Largest answer read from the backend.
    static let maxAnswerBytes = 256 * 1024

    init(configuration: ProxyConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = configuration.concurrency
        clientConfiguration.redirectConfiguration = .disallow
        // A backend that refuses connections fails the request at once (and counts towards its
        // breaker) rather than being retried with backoff until the deadline.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        clientConfiguration.timeout.connect = TimeAmount(configuration.timeout)
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: clientConfiguration)
        let breaker = CircuitBreaker(failureThreshold: configuration.breakerFailures, cooldown: configuration.breakerCooldown)
        breakers = Mutex(Dictionary(uniqueKeysWithValues: ProxyKind.allCases.map { ($0, breaker) }))
        gate = Mutex(Gate(slots: ProxyGate(limit: configuration.concurrency, queueLimit: configuration.concurrency * ProxyConfiguration.queueFactor)))
    }

    /// Closes the backend connections (at shutdown).
    func shutdown() async {
        try? await client.shutdown()
    }

    /// The dashboard's rows: every proxy with a URL, its figures since start and its circuit.
    func rows() -> [ProxyRow] {
        let figures = statistics.current()
        let now = NIODeadline.now().uptimeNanoseconds
        let breakers = self.breakers.withLock { $0 }
        return ProxyKind.allCases.filter { configuration.url(for: $0) != nil }.map { kind in
            let measured = figures[kind] ?? ProxyStatistics.Figures()
            return ProxyRow(
                proxy: kind.rawValue, requests: measured.requests, failures: measured.failures.values.reduce(0, +),
                p99: measured.latency.totalCount > 0 ? measured.latency.valueAtPercentile(99) : 0,
                circuitOpen: breakers[kind]?.refuses(now: now) ?? false)
        }
    }

    // MARK: - The four questions

    /// May a handshake from `remote` connect? `headers` are the passed-on handshake headers.
    func connect(client id: String, remote: String, headers: [(name: String, value: String)]) async -> ProxyOutcome<ConnectGrant> {
        await ask(.connect, ProxyRequest.connect(client: id, remote: remote, headers: headers)) { result throws(ProxyAnswer.Malformed) in
            try result.connectGrant()
        }
    }

    /// May `client` subscribe to `channel`? Grants the presence info it gets there, if any.
    func subscribe(client: String, user: String?, channel: String) async -> ProxyOutcome<[UInt8]?> {
        await ask(.subscribe, ProxyRequest.subscribe(client: client, user: user, channel: channel)) { result throws(ProxyAnswer.Malformed) in
            try result.subscribeGrant()
        }
    }

    /// May `client` publish `data` to `channel`? Grants the data to publish instead, if any.
    func publish(client: String, user: String?, channel: String, data: some Collection<UInt8>) async -> ProxyOutcome<[UInt8]?> {
        await ask(.publish, ProxyRequest.publish(client: client, user: user, channel: channel, data: data)) { $0.replacementData }
    }

    /// `client`'s connection is expiring: the new `expire_at` (unix seconds) if the backend
    /// extends it. The expiry of proxied connections calls this when their time comes.
    func refresh(client: String, user: String?) async -> ProxyOutcome<Int> {
        await ask(.refresh, ProxyRequest.refresh(client: client, user: user)) { result throws(ProxyAnswer.Malformed) in try result.refreshedExpiry() }
    }

    // MARK: - Asking

    /// Sends `body` to the URL of `kind` and reads the answer; `read` turns a `result` into what
    /// the question grants.
    private func ask<Grant>(
        _ kind: ProxyKind, _ body: [UInt8], read: (ProxyResult) throws(ProxyAnswer.Malformed) -> Grant
    ) async -> ProxyOutcome<Grant> {
        guard let url = configuration.url(for: kind) else { return .failed(.unreachable) }
        let started = NIODeadline.now()
        let deadline = started + TimeAmount(configuration.timeout)
        if breakers.withLock({ $0[kind]!.refuses(now: started.uptimeNanoseconds) }) { return failed(kind, .circuitOpen) }
        switch await takeSlot(until: deadline) {
        case .proceed: break
        case .overloaded: return failed(kind, .overloaded)
        case .wait: return failed(kind, .timeout)
        }
        defer { releaseSlot() }
        let admission = breakers.withLock { $0[kind]!.admit(now: NIODeadline.now().uptimeNanoseconds) }
        guard admission != .refuse else { return failed(kind, .circuitOpen) }
        let outcome: ProxyOutcome<Grant>
        switch await send(body, to: url, deadline: deadline) {
        case .success(let bytes):
            do throws(ProxyAnswer.Malformed) {
                switch try ProxyAnswer(parsing: bytes) {
                case .result(let result): outcome = .granted(try read(result))
                case .error(let code, let message): outcome = .refused(code: code, message: message)
                case .disconnect(let code, let reason): outcome = .disconnect(code: code, reason: reason)
                }
            } catch {
                logger.warning("proxy answer not understood", metadata: ["proxy": "\(kind.rawValue)", "error": "\(error)"])
                outcome = .failed(.malformed)
            }
        case .failure(let failure):
            outcome = .failed(failure)
        }
        let now = NIODeadline.now()
        let transition = breakers.withLock { breakers in
            if case .failed = outcome { breakers[kind]!.failed(admission, now: now.uptimeNanoseconds) } else { breakers[kind]!.succeeded(admission) }
        }
        switch transition {
        case .opened?: logger.warning("proxy circuit opened", metadata: ["proxy": "\(kind.rawValue)", "url": "\(url)"])
        case .closed?: logger.notice("proxy circuit closed", metadata: ["proxy": "\(kind.rawValue)"])
        case nil: break
        }
        statistics.record(kind, seconds: Double((now - started).nanoseconds) / 1e9, failure: outcome.failure)
        return outcome
    }

    private func failed<Grant>(_ kind: ProxyKind, _ failure: ProxyFailure) -> ProxyOutcome<Grant> {
        statistics.record(kind, seconds: nil, failure: failure)
        return .failed(failure)
    }

    /// One POST; the answer's body when the status is 2xx.
    private func send(_ body: [UInt8], to url: String, deadline: NIODeadline) async -> Result<[UInt8], ProxyFailure> {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let secret = configuration.secret {
            request.headers.add(name: ProxySignature.header, value: ProxySignature.value(secret: secret, time: Int(WallClock.now()), body: body))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, deadline: deadline)
            let answer = try await response.body.collect(upTo: Self.maxAnswerBytes)
            guard (200..<300).contains(response.status.code) else { return .failure(.status) }
            return .success(Array(answer.readableBytesView))
        } catch let error as HTTPClientError
            where [.deadlineExceeded, .readTimeout, .connectTimeout, .cancelled].contains(error) || NIODeadline.now() >= deadline
        {
            return .failure(.timeout)
        } catch {
            return .failure(NIODeadline.now() >= deadline ? .timeout : .unreachable)
        }
    }

    // MARK: - Slots

    /// Waits for a slot until `deadline`: `.proceed` with one, `.wait` when the deadline passed
    /// first, `.overloaded` when the queue is full.
    private func takeSlot(until deadline: NIODeadline) async -> ProxyGate.Entry {
        let loop = client.eventLoopGroup.next()
        return await withCheckedContinuation { (continuation: CheckedContinuation<ProxyGate.Entry, Never>) in
            gate.withLock { gate in
                let ticket = gate.nextTicket
                gate.nextTicket += 1
                let entry = gate.slots.enter(ticket)
                guard entry == .wait else { return continuation.resume(returning: entry) }
                let timer = loop.scheduleTask(deadline: deadline) { self.withdraw(ticket) }
                gate.waiters[ticket] = { granted in
                    timer.cancel()
                    continuation.resume(returning: granted ? .proceed : .wait)
                }
            }
        }
    }

    private func withdraw(_ ticket: UInt64) {
        let waiter = gate.withLock { gate in gate.slots.withdraw(ticket) ? gate.waiters.removeValue(forKey: ticket) : nil }
        waiter?(false)
    }

    private func releaseSlot() {
        let next = gate.withLock { gate in gate.slots.leave().flatMap { gate.waiters.removeValue(forKey: $0) } }
        next?(true)
    }
}

extension ProxyOutcome {
    /// Why the request failed, when it did.
    var failure: ProxyFailure? {
        if case .failed(let failure) = self { failure } else { nil }
    }
}
