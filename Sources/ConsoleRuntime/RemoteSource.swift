import Foundation
import HTTPTypes
public import ConsoleTerminal
import Logging
import Synchronization
public import SwitchboardCore
import WSClient

/// The admin-stream source: keeps the latest pushed snapshot, tells the server which rows to
/// send when the view changes, and sends operator commands in their wire form, matching each
/// `result` to its command by `id`.
public final class RemoteSource: DashboardSource {
    public let url: String
    public let token: String
    /// How long a command waits for its result before it is reported as unanswered.
    public let commandDeadline: Duration
    /// The latest snapshot and the view it was made for (nil: a server that does not say).
    private let latest = Mutex<(snapshot: DashboardSnapshot?, query: ClientQuery?)>((nil, nil))
    /// Readers waiting for the snapshot of the view they sent, by number.
    private let waiting = Mutex<[Int: (query: ClientQuery, continuation: CheckedContinuation<DashboardSnapshot?, Never>)]>([:])
    /// How long a changed view waits for its own snapshot before showing the latest one.
    let viewDeadline: Duration
    private let writer = Mutex<WebSocketOutboundWriter?>(nil)
    private let sentQuery = Mutex<ClientQuery?>(nil)
    private let connected = Mutex(false)
    private let nextID = Atomic<Int>(0)
    /// Commands sent and not yet answered, by id.
    private let pending = Mutex<[Int: CheckedContinuation<OperatorResult, Never>]>([:])

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// `url` is the admin stream's `ws://` or `wss://` URL.
    public init(url: String, token: String, commandDeadline: Duration = .seconds(5), viewDeadline: Duration = .seconds(2)) {
        self.url = url
        self.token = token
        self.commandDeadline = commandDeadline
        self.viewDeadline = viewDeadline
    }

    /// Stays connected (reconnecting with backoff) until `stop` is set.
    public func run(until stop: StopFlag) async {
        var logger = Logger(label: "attach")
        logger.logLevel = .critical
        var backoff = Duration.milliseconds(250)
        while !stop.isSet && !Task.isCancelled {
            do {
                let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 24, additionalHeaders: [.authorization: "Bearer \(token)"])
                _ = try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                    self.writer.withLock { $0 = outbound }
                    self.sentQuery.withLock { $0 = nil }
                    self.connected.withLock { $0 = true }
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .text(let text) = message else { continue }
                        self.receive(text)
                    }
                }
            } catch {}
            writer.withLock { $0 = nil }
            latest.withLock { $0 = (nil, nil) }
            answerAll(.failed(OperatorFailure(.unavailable, "the admin stream closed before the server answered")))
            // Back off while the server stays away; a session that got connected starts over.
            let wasConnected = connected.withLock { value in
                defer { value = false }
                return value
            }
            backoff = wasConnected ? .milliseconds(250) : min(backoff * 2, .seconds(5))
            try? await Task.sleep(for: backoff)
        }
    }

    private func receive(_ text: String) {
        guard let object = try? JSONObject(parsing: Array(text.utf8)) else { return }
        switch object.string("type") {
        case "snapshot":
            if let raw = object.raw("snapshot"), let snapshot = try? Self.decoder.decode(DashboardSnapshot.self, from: Data(raw)) {
                let query = object.raw("query").flatMap { try? Self.decoder.decode(ClientQuery.self, from: Data($0)) }
                latest.withLock { $0 = (snapshot, query) }
                // A server that does not name the view answers every reader with what it has.
                let answered = waiting.withLock { waiting in
                    let ids = waiting.filter { query == nil || $0.value.query == query }.keys
                    return ids.compactMap { waiting.removeValue(forKey: $0)?.continuation }
                }
                for continuation in answered { continuation.resume(returning: snapshot) }
            }
        case "result":
            guard let id = object.int("id") else { return }
            answer(id, OperatorResult(result: object))
        default:
            break
        }
    }

    /// The latest snapshot when it was made for `query`; otherwise (a new view, or one whose
    /// snapshot is still on its way) the one the server makes for it — it answers a `view` at
    /// once — or the latest after ``viewDeadline``.
    public func snapshot(query: ClientQuery) async -> DashboardSnapshot? {
        let current = latest.withLock { $0 }
        guard current.query != query, current.snapshot == nil || current.query != nil, let writer = writer.withLock({ $0 }) else {
            return current.snapshot
        }
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        return await withCheckedContinuation { continuation in
            waiting.withLock { $0[id] = (query, continuation) }
            Task {
                do {
                    if sentQuery.withLock({ $0 }) != query {
                        let encoded = (try? JSONEncoder().encode(query)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                        try await writer.write(.text("{\"type\":\"view\",\"interval_ms\":500,\"query\":\(encoded)}"))
                        sentQuery.withLock { $0 = query }
                    }
                    try await Task.sleep(for: viewDeadline)
                } catch {}
                waiting.withLock { $0.removeValue(forKey: id) }?.continuation.resume(returning: latest.withLock { $0.snapshot })
            }
        }
    }

    /// Sends `command` and waits for the `result` with its id (or the deadline, or the stream
    /// closing, whichever comes first).
    public func perform(_ command: OperatorCommand) async -> OperatorResult {
        guard let writer = writer.withLock({ $0 }) else { return .failed(OperatorFailure(.unavailable, "not connected")) }
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        return await withCheckedContinuation { continuation in
            pending.withLock { $0[id] = continuation }
            Task {
                do {
                    try await writer.write(.text(command.wireJSON(id: "\(id)")))
                } catch {
                    answer(id, .failed(OperatorFailure(.unavailable, "not sent: \(error)")))
                    return
                }
                try? await Task.sleep(for: commandDeadline)
                answer(id, .failed(OperatorFailure(.unavailable, "no answer from the server within \(commandDeadline)")))
            }
        }
    }

    /// Follows `target` through the server's `/admin/trace`, with this source's token.
    public func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage> {
        TraceClient(server: url, token: token).messages(target)
    }

    /// Hands `result` to the command waiting under `id`, once.
    private func answer(_ id: Int, _ result: OperatorResult) {
        pending.withLock { $0.removeValue(forKey: id) }?.resume(returning: result)
    }

    private func answerAll(_ result: OperatorResult) {
        for continuation in pending.withLock({ pending in
            defer { pending.removeAll() }
            return Array(pending.values)
        }) {
            continuation.resume(returning: result)
        }
    }
}
