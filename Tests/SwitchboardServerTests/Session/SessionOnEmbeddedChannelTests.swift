import Logging
import NIOCore
import NIOEmbedded
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// A real session of a real hub, on an `EmbeddedChannel`: no socket, no second thread, and
/// the paths that otherwise need a client that stops reading or breaks the protocol.
struct EmbeddedClient {
    let loop: EmbeddedEventLoop
    let hub: Hub
    let channel: EmbeddedChannel

    static func make(identity: ClientIdentity = .anonymous, _ configure: (inout HubConfiguration) -> Void = { _ in }) throws -> EmbeddedClient {
        let loop = EmbeddedEventLoop()
        var configuration = HubConfiguration()
        configure(&configuration)
        let hub = Hub(eventLoopGroup: loop, configuration: configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        return try EmbeddedClient(loop: loop, hub: hub, identity: identity)
    }

    private init(loop: EmbeddedEventLoop, hub: Hub, identity: ClientIdentity = .anonymous) throws {
        self.loop = loop
        self.hub = hub
        channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        try channel.pipeline.syncOperations.addHandler(hub.makeSession(for: channel, route: .native, identity: identity, deflate: nil, userAgent: ""))
    }

    /// Another client of the same hub.
    func another() throws -> EmbeddedClient { try EmbeddedClient(loop: loop, hub: hub) }

    func send(_ text: String, masked: Bool = true) throws {
        var buffer = ByteBuffer()
        if masked {
            Array(text.utf8).withUnsafeBytes { WireFrame.writeMasked(.text, payload: $0, maskKey: 0x1234_5678, into: &buffer) }
        } else {
            buffer = WireFrame.make(.text, payload: Array(text.utf8), allocator: .init())
        }
        try channel.writeInbound(buffer)
        loop.run()
    }

    func sendClose(code: UInt16) throws {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        var buffer = ByteBuffer()
        payload.withUnsafeReadableBytes { WireFrame.writeMasked(.close, payload: $0, maskKey: 0x0102_0304, into: &buffer) }
        try channel.writeInbound(buffer)
        loop.run()
    }

    /// Every frame written to the client since the last call: text as text, a close frame as
    /// `close <code>`.
    func received() throws -> [String] {
        loop.run()
        var bytes = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        var frames: [String] = []
        let parser = FrameParser(maxPayload: 1 << 24)
        while let frame = try parser.next(from: &bytes) {
            var payload = frame.payload
            if frame.opcode == 0x8 {
                frames.append("close \(payload.readInteger(as: UInt16.self) ?? 0)")
            } else {
                frames.append(String(buffer: payload))
            }
        }
        return frames
    }

    /// The hub's client rows, read on the (embedded) loop directly: the hub's async readers
    /// submit to the loop and would wait for a `run()` nobody makes.
    func rows() -> [ClientRow] {
        hub.shards.flatMap { shard in shard.clientRows(numbers: shard.clientOrderKeys(matching: ClientQuery()).keys.map(\.number)).map(\.row) }
    }
}

@Suite("Session on EmbeddedChannel")
struct SessionOnEmbeddedChannelTests {
    @Test func repliesAndDeliveriesArriveInRequestOrder() throws {
        let client = try EmbeddedClient.make()
        #expect(try client.received().first?.hasPrefix(#"{"type":"welcome""#) == true)
        try client.send(#"{"type":"subscribe","channel":"news","id":1}"#)
        try client.send(#"{"type":"publish","channel":"news","data":42,"id":2}"#)
        let frames = try client.received()
        #expect(frames.count == 3)
        #expect(frames[0] == #"{"type":"subscribed","channel":"news","id":1}"#)
        #expect(frames[1].hasPrefix(#"{"type":"message","channel":"news","data":42"#) && frames[1].hasSuffix(#""seq":1}"#))
        #expect(frames[2] == #"{"type":"ack","id":2}"#)
    }

    @Test func aSlowConsumerIsClosing4002UntilItsCloseFrameIsOut() throws {
        let slow = try EmbeddedClient.make {
            $0.outboundQueueFrames = 4
            $0.closeTimeout = .seconds(600)
        }
        try slow.send(#"{"type":"subscribe","channel":"firehose"}"#)
        _ = try slow.received()
        let publisher = try slow.another()
        slow.channel.isWritable = false
        slow.channel.pipeline.fireChannelWritabilityChanged()
        for n in 1...5 { try publisher.send(#"{"type":"publish","channel":"firehose","data":\#(n)}"#) }
        #expect(try slow.received().isEmpty)
        let row = try #require(slow.rows().first { $0.mailbox.dropped > 0 })
        #expect(row.state == .closing && row.closeCode == 4002 && row.closeReason == "slow consumer")
        #expect(row.channels.isEmpty && row.mailbox.depth == 0)
        slow.channel.isWritable = true
        slow.channel.pipeline.fireChannelWritabilityChanged()
        #expect(try slow.received() == ["close 4002"])
    }

    @Test func anUnmaskedFrameFails1002AndEndsTheOutput() throws {
        let client = try EmbeddedClient.make()
        _ = try client.received()
        try client.send(#"{"type":"ping"}"#, masked: false)
        #expect(try client.received() == ["close 1002"])
        try client.send(#"{"type":"ping"}"#)
        #expect(try client.received().isEmpty)
    }

    @Test func thePeersCloseIsEchoedAndTheSessionLeavesTheHub() throws {
        let client = try EmbeddedClient.make()
        try client.send(#"{"type":"subscribe","channel":"news"}"#)
        _ = try client.received()
        try client.sendClose(code: 4321)
        #expect(try client.received() == ["close 4321"])
        #expect(!client.channel.isActive)
        #expect(client.rows().isEmpty)
        #expect(client.hub.shards.allSatisfy { $0.subscriptionCount == 0 })
    }
}
