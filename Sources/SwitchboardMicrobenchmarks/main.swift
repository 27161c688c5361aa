// Microbenchmarks of the hub's hot pieces, with google/swift-benchmark:
//
//   swift run -c release SwitchboardMicrobenchmarks            # all
//   swift run -c release SwitchboardMicrobenchmarks --filter frame
//
// Each benchmark is one operation the hub performs per message or per delivery; BENCHMARKS.md
// records the figures. Compare runs of the same build on the same machine only.
import Benchmark
import Logging
import NIOCore
import NIOEmbedded
import SwitchboardCore
import SwitchboardServer

let allocator = ByteBufferAllocator()
let data64 = ByteBuffer(string: #"{"text":"héllo","n":[1,2.5e3,null],"pad":"xxxxxxxxxxxxxxxxxxx"}"#)
let publish64 = Array(#"{"type":"publish","channel":"room:1","data":{"text":"hello","n":[1,2.5,null]},"id":42}"#.utf8)
let maskedFrame = maskedText(publish64)
let json1K = Array(String(repeating: #"{"k":"vålue","n":12345}"#, count: 43).utf8)
let parser = FrameParser(maxPayload: 64 * 1024)
let gauge = MailboxGauge(kind: .hubShard, name: "bench", capacity: 1024)

/// A client's masked text frame carrying `text`.
func maskedText(_ text: some Sequence<UInt8>) -> ByteBuffer {
    let payload = Array(text)
    var buffer = allocator.buffer(capacity: payload.count + 14)
    payload.withUnsafeBytes { WireFrame.writeMasked(.text, payload: $0, maskKey: 0x1234_5678, into: &buffer) }
    return buffer
}

/// Keeps a result alive so the optimizer cannot drop the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

benchmark("encode message frame (64 B data), once per publish") {
    blackHole(ServerMessage.message(channel: "room:1", data: data64, from: "c42", seq: 7, allocator: allocator))
}

benchmark("decode publish request (JSON scan), once per publish") {
    blackHole(publish64.withUnsafeBytes { ClientRequest.decode($0) })
}

benchmark("parse masked client frame header, once per frame") {
    var buffer = maskedFrame
    blackHole(try! parser.next(from: &buffer))
}

benchmark("validate 1 KB of UTF-8 text, once per text message") {
    blackHole(json1K.withUnsafeBytes(UTF8Validation.isValid))
}

benchmark("publish mailbox figures, once per shard inbox batch") {
    gauge.publish(MailboxCounts(depth: 3, peak: 9, enqueued: 100, dequeued: 97))
}

/// A hub on one embedded event loop with real sessions on `EmbeddedChannel`s: `count` clients
/// subscribed to one channel and one client publishing to it. A publish takes the whole server
/// path except the sockets: frame parsing, request decoding, rate limit, sequence number, one
/// encode, a write per subscriber (or one per tick for coalesced small frames), one flush per
/// subscriber per tick, the ack. Each channel's writes end in a ``FrameCounter`` instead of
/// `EmbeddedChannel`'s outbound buffer, whose bookkeeping would otherwise dominate the figure.
final class InProcessFanOut {
    let loop = EmbeddedEventLoop()
    let hub: Hub
    let subscribers: [FrameCounter]
    let publisher: EmbeddedChannel
    let publishFrame = maskedText(#"{"type":"publish","channel":"room:1","data":{"text":"hello","pad":"xxxxxxxxxxxxxxxx"},"id":1}"#.utf8)

    init(subscribers count: Int) throws {
        var configuration = HubConfiguration()
        configuration.publishRate = 1e12
        configuration.publishBurst = 1e12
        let hub = Hub(eventLoopGroup: loop, configuration: configuration, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let loop = loop
        func client(counter: FrameCounter) throws -> EmbeddedChannel {
            let channel = EmbeddedChannel(handler: counter, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            try hub.attachNativeClient(to: channel)
            return channel
        }
        self.hub = hub
        var subscribers: [FrameCounter] = []
        for _ in 0..<count {
            let counter = FrameCounter()
            try client(counter: counter).writeInbound(maskedText(#"{"type":"subscribe","channel":"room:1"}"#.utf8))
            subscribers.append(counter)
        }
        self.subscribers = subscribers
        publisher = try client(counter: FrameCounter())
        loop.run()
        _ = takeDeliveries()
    }

    /// `count` publishes arriving in one read, fanned out and flushed in one tick (as a fast
    /// publisher's do); traps unless every subscriber got every message.
    func publish(_ count: Int) throws {
        var frames = allocator.buffer(capacity: publishFrame.readableBytes * count)
        for _ in 0..<count { frames.writeImmutableBuffer(publishFrame) }
        try publisher.writeInbound(frames)
        loop.run()
        let delivered = takeDeliveries()
        precondition(delivered == subscribers.count * count, "delivered \(delivered) of \(subscribers.count * count)")
    }

    /// How many frames the subscribers got since the last call.
    private func takeDeliveries() -> Int {
        var delivered = 0
        for subscriber in subscribers {
            delivered += subscriber.frames
            subscriber.frames = 0
        }
        return delivered
    }
}

/// The end of a benchmark client's pipeline: counts the server frames written to it (a write
/// may carry several) and drops them.
final class FrameCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var frames = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        while let header = bytes.readInteger(as: UInt16.self) {
            let length = Int(header & 0x7F)
            precondition(length < 126 && bytes.readableBytes >= length, "the benchmark's frames are shorter than 126 bytes")
            bytes.moveReaderIndex(forwardBy: length)
            frames += 1
        }
        promise?.succeed()
    }

    func flush(context: ChannelHandlerContext) {}
}

let fanOut = try InProcessFanOut(subscribers: 1000)

benchmark("fan out 1 publish to 1000 in-process sessions (÷ 1000 per delivery)") {
    try fanOut.publish(1)
}

benchmark("fan out 32 publishes in one tick to 1000 in-process sessions (÷ 32 000 per delivery)") {
    try fanOut.publish(32)
}

Benchmark.main()
