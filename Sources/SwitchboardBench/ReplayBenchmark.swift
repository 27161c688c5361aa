import Foundation
import NIOCore
import NIOPosix

/// Replay: how fast a client that resumes with `since` gets what it missed. Publishes `messages`
/// messages to a channel with history (the server needs `--history-size` of at least that), then,
/// `rounds` times, opens a client that subscribes with `since` at the position before them and
/// times the reply and the whole replay. A second URL (`--replay-url`) resumes on another node of
/// a cluster.
public struct ReplayBenchmark {
    public struct Configuration: Sendable {
        /// Where the messages are published.
        public var target: LoadTarget
        /// Where the resuming clients connect (the same server, or another node).
        public var replayTarget: LoadTarget
        public var channel = "bench-replay"
        public var messages = 10_000
        public var payloadBytes = 64
        public var rounds = 5

        public init(target: LoadTarget, replayTarget: LoadTarget) {
            self.target = target
            self.replayTarget = replayTarget
        }
    }

    public struct Result: Sendable, Codable {
        public var messages: Int
        public var rounds: Int
        /// Every round recovered, with every message once in order.
        public var complete: Bool
        /// Publishes per second while filling the history (one client, acked at the end).
        public var publishesPerSecond: Double
        /// Median over the rounds: subscribe → `subscribed`, milliseconds.
        public var replyMilliseconds: Double
        /// Median over the rounds: subscribe → the last replayed message, milliseconds.
        public var replayMilliseconds: Double
        /// `messages` / the median replay time.
        public var replayedPerSecond: Double
    }

    let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public func run() async throws -> Result {
        let configuration = self.configuration
        let loop = MultiThreadedEventLoopGroup.singleton.next()

        // The channel's position before the messages.
        let probe = ReplayClient(eventLoop: loop, expecting: 0)
        _ = try await LoadClient.connect(to: configuration.target, on: loop, role: probe).get()
        try await probe.welcomed.futureResult.get()
        probe.send(#"{"type":"subscribe","channel":"\#(configuration.channel)","id":"s"}"#)
        let start = try await probe.subscribed.futureResult.get()
        guard let epoch = start.epoch else { throw LoadError("\(configuration.channel) keeps no history: start the server with --history-size") }

        // Fill the history: publishes pipelined, the last one acked.
        let data = "\"" + String(repeating: "x", count: max(0, configuration.payloadBytes - 2)) + "\""
        let publishStart = ContinuousClock.now
        try await probe.publish(configuration.messages, channel: configuration.channel, data: data)
        let publishSeconds = (ContinuousClock.now - publishStart).seconds
        probe.close()

        var replies: [Double] = []
        var replays: [Double] = []
        var complete = true
        for _ in 0..<configuration.rounds {
            let client = ReplayClient(eventLoop: loop, expecting: configuration.messages, after: start.seq)
            _ = try await LoadClient.connect(to: configuration.replayTarget, on: loop, role: client).get()
            try await client.welcomed.futureResult.get()
            let began = ContinuousClock.now
            client.send(#"{"type":"subscribe","channel":"\#(configuration.channel)","id":"r","since":{"seq":\#(start.seq),"epoch":"\#(epoch)"}}"#)
            let reply = try await client.subscribed.futureResult.get()
            replies.append((ContinuousClock.now - began).seconds * 1000)
            guard reply.recovered == true else {
                complete = false
                client.close()
                break
            }
            let inOrder = try await client.replayed.futureResult.get()
            replays.append((ContinuousClock.now - began).seconds * 1000)
            complete = complete && inOrder
            client.close()
        }
        let replay = Self.median(replays)
        return Result(
            messages: configuration.messages, rounds: replays.count, complete: complete && replays.count == configuration.rounds,
            publishesPerSecond: Double(configuration.messages) / max(publishSeconds, 1e-9), replyMilliseconds: Self.median(replies),
            replayMilliseconds: replay, replayedPerSecond: replay > 0 ? Double(configuration.messages) / (replay / 1000) : 0)
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        return values.sorted()[values.count / 2]
    }
}

/// One client of the replay benchmark: waits for its welcome and its subscription's reply, then
/// counts replayed messages and checks that their `seq` run on from `after` without a gap.
private final class ReplayClient: LoadClientRole, @unchecked Sendable {
    struct Reply {
        var seq: UInt64
        var epoch: String?
        var recovered: Bool?
    }

    let eventLoop: any EventLoop
    let welcomed: EventLoopPromise<Void>
    let subscribed: EventLoopPromise<Reply>
    let replayed: EventLoopPromise<Bool>
    private let acked: EventLoopPromise<Void>
    private var client: LoadClient?
    private let expecting: Int
    private var nextSeq: UInt64
    private var received = 0
    private var inOrder = true
    private static let seqMarker = Array(#""seq":"#.utf8)

    init(eventLoop: any EventLoop, expecting: Int, after seq: UInt64 = 0) {
        self.eventLoop = eventLoop
        self.expecting = expecting
        self.nextSeq = seq + 1
        welcomed = eventLoop.makePromise()
        subscribed = eventLoop.makePromise()
        replayed = eventLoop.makePromise()
        acked = eventLoop.makePromise()
    }

    func send(_ text: String) {
        eventLoop.execute {
            self.client?.sendText(text)
            self.client?.flush()
        }
    }

    /// Sends `count` publishes, the last with an id, and completes on its ack.
    func publish(_ count: Int, channel: String, data: String) async throws {
        eventLoop.execute {
            guard let client = self.client else { return }
            for index in 0..<count {
                let id = index == count - 1 ? #","id":"last""# : ""
                client.sendText(#"{"type":"publish","channel":"\#(channel)","data":\#(data)\#(id)}"#)
                if index % 256 == 255 { client.flush() }
            }
            client.flush()
        }
        try await acked.futureResult.get()
    }

    func close() {
        eventLoop.execute { self.client?.context?.close(promise: nil) }
    }

    func opened(_ client: LoadClient) {
        self.client = client
    }

    func received(_ client: LoadClient, text: ByteBuffer) {
        let bytes = text.readableBytesView
        if bytes.starts(with: #"{"type":"message""#.utf8) {
            guard received < expecting else { return }
            received += 1
            if Self.seq(in: text) != nextSeq { inOrder = false }
            nextSeq += 1
            if received == expecting { replayed.succeed(inOrder) }
        } else if bytes.starts(with: #"{"type":"subscribed""#.utf8) {
            let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
            subscribed.succeed(
                Reply(
                    seq: (object?["seq"] as? NSNumber)?.uint64Value ?? 0, epoch: object?["epoch"] as? String,
                    recovered: object?["recovered"] as? Bool))
        } else if bytes.starts(with: #"{"type":"welcome""#.utf8) {
            welcomed.succeed()
        } else if bytes.starts(with: #"{"type":"ack""#.utf8) {
            acked.succeed()
        } else if bytes.starts(with: #"{"type":"error""#.utf8) {
            let error = LoadError("the server answered \(String(buffer: text))")
            subscribed.fail(error)
            acked.fail(error)
            replayed.fail(error)
        }
    }

    func closed(_ client: LoadClient, code: UInt16?) {
        let error = LoadError("the connection closed (\(code.map(String.init) ?? "no code"))")
        welcomed.fail(error)
        subscribed.fail(error)
        replayed.fail(error)
        acked.fail(error)
    }

    func failed(_ client: LoadClient, reason: String) {
        closed(client, code: nil)
    }

    private static func seq(in text: ByteBuffer) -> UInt64? {
        let bytes = Array(text.readableBytesView)
        guard let start = bytes.firstRange(of: seqMarker)?.upperBound else { return nil }
        var value: UInt64 = 0
        var index = start
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            value = value * 10 + UInt64(bytes[index] - 48)
            index += 1
        }
        return value
    }
}
