import Logging
import NIOCore
import NIOWebSocket
import WSClient

/// A swift-websocket client with a queue of received text messages, for driving the server
/// from tests one message at a time.
final class TestClient: Sendable {
    private let writer: WebSocketOutboundWriter
    private let inbox: MessageQueue
    private let runTask: Task<WebSocketCloseFrame?, any Error>
    /// Holds the handler back from reading while closed: a paused client stops reading its socket.
    private let gate: GateBox

    private init(
        writer: WebSocketOutboundWriter, inbox: AsyncThrowingStream<String, any Error>, runTask: Task<WebSocketCloseFrame?, any Error>, gate: GateBox
    ) {
        self.writer = writer
        self.inbox = MessageQueue(inbox)
        self.runTask = runTask
        self.gate = gate
    }

    /// Connects and returns once the socket is open. With `startReading: false` the client reads
    /// nothing until ``resumeReading()``.
    static func connect(_ url: String, startReading: Bool = true, maxFrameSize: Int = 1 << 20) async throws -> TestClient {
        let (inbox, sink) = AsyncThrowingStream<String, any Error>.makeStream()
        let (writers, writerSink) = AsyncStream<WebSocketOutboundWriter>.makeStream()
        let gate = GateBox(open: startReading)
        var logger = Logger(label: "test-client")
        logger.logLevel = .critical
        let task = Task {
            defer { writerSink.finish() }
            let close = try await WebSocketClient.connect(
                url: url,
                configuration: .init(maxFrameSize: maxFrameSize),
                logger: logger
            ) { inbound, outbound, _ in
                writerSink.yield(outbound)
                await gate.wait()
                do {
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        if case .text(let text) = message { sink.yield(text) }
                    }
                    sink.finish()
                } catch {
                    sink.finish(throwing: error)
                }
            }
            sink.finish()
            return close
        }
        var writerIterator = writers.makeAsyncIterator()
        guard let writer = await writerIterator.next() else {
            _ = try await task.value
            throw TestFailure("connection closed during the handshake")
        }
        let client = TestClient(writer: writer, inbox: inbox, runTask: task, gate: gate)
        await client.inbox.attach(sink)
        return client
    }

    /// Lets a client created with `startReading: false` read again.
    func resumeReading() async {
        await gate.open()
    }

    func send(_ text: String) async throws {
        try await writer.write(.text(text))
    }

    func send(frame: WebSocketFrame) async throws {
        try await writer.write(.custom(frame))
    }

    func sendBinary(_ bytes: [UInt8]) async throws {
        try await writer.write(.binary(ByteBuffer(bytes: bytes)))
    }

    /// The next text message, or nil once the connection has closed.
    func next() async throws -> String? {
        try await inbox.next()
    }

    /// Reads messages until one satisfies `match`, returning those skipped and the match.
    func next(where match: (String) -> Bool) async throws -> String {
        while let message = try await next() {
            if match(message) { return message }
        }
        throw TestFailure("connection closed before the expected message")
    }

    /// Closes from the client side.
    func close() async throws {
        try await writer.close(.normalClosure, reason: nil)
    }

    /// Waits for the connection to end and returns the server's close frame.
    func closeFrame() async throws -> WebSocketCloseFrame? {
        while try await next() != nil {}
        return try await runTask.value
    }
}

/// Received messages, read one at a time.
actor MessageQueue {
    private var iterator: AsyncThrowingStream<String, any Error>.Iterator

    init(_ stream: AsyncThrowingStream<String, any Error>) {
        iterator = stream.makeAsyncIterator()
    }

    /// The next message; fails after `patience` rather than hang the suite if nothing comes
    /// (a guard against a stuck test, not a performance limit).
    func next(patience: Duration = .seconds(60)) async throws -> String? {
        let watchdog = Task {
            try await Task.sleep(for: patience)
            continuation?.finish(throwing: TestFailure("no message within \(patience)"))
        }
        defer { watchdog.cancel() }
        var current = iterator
        defer { iterator = current }
        return try await current.next(isolation: self)
    }

    private var continuation: AsyncThrowingStream<String, any Error>.Continuation?

    func attach(_ continuation: AsyncThrowingStream<String, any Error>.Continuation) {
        self.continuation = continuation
    }
}

/// An async gate: `wait()` suspends until `open()`.
actor GateBox {
    private var isOpen: Bool
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(open: Bool) { isOpen = open }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}
