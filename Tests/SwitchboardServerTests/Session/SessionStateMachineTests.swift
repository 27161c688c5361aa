import NIOCore
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// A client frame as a peer would send it: masked unless told otherwise.
private func clientFrame(
    _ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true
) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt8((fin ? 0x80 : 0) | (rsv << 4) | opcode))
    let maskBit: UInt8 = masked ? 0x80 : 0
    switch payload.count {
    case ..<126: buffer.writeInteger(maskBit | UInt8(payload.count))
    case ..<65536:
        buffer.writeInteger(maskBit | 126)
        buffer.writeInteger(UInt16(payload.count))
    default:
        buffer.writeInteger(maskBit | 127)
        buffer.writeInteger(UInt64(payload.count))
    }
    let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
    if masked {
        buffer.writeBytes(key)
        buffer.writeBytes(payload.enumerated().map { $0.element ^ key[$0.offset % 4] })
    } else {
        buffer.writeBytes(payload)
    }
    return buffer
}

private let text: UInt8 = 0x1
private let continuation: UInt8 = 0x0
private let close: UInt8 = 0x8
private let ping: UInt8 = 0x9

/// Everything the assembler makes of `chunks`, one read each.
private func actions(_ assembler: inout MessageAssembler, _ chunks: ByteBuffer...) -> [MessageAssembler.Action] {
    var result: [MessageAssembler.Action] = []
    for chunk in chunks {
        var bytes: ByteBuffer? = chunk
        while let action = assembler.next(from: &bytes) { result.append(action) }
    }
    return result
}

private func failure(_ action: MessageAssembler.Action?) -> UInt16? {
    if case .fail(let code, _) = action { code.rawValue } else { nil }
}

@Suite("Session state machines: message assembly")
struct MessageAssemblerTests {
    @Test func aMessageSplitAcrossReadsArrivesWhole() {
        var assembler = MessageAssembler(messageLimit: 1024, deflate: false)
        var frame = clientFrame(text, Array("hello".utf8))
        let head = frame.readSlice(length: 3)!
        #expect(actions(&assembler, head).isEmpty)
        #expect(actions(&assembler, frame) == [.message(ByteBuffer(string: "hello"), isText: true)])
    }

    @Test func fragmentsAreJoinedAndControlFramesPassBetweenThem() {
        var assembler = MessageAssembler(messageLimit: 1024, deflate: false)
        let found = actions(
            &assembler, clientFrame(text, Array("hel".utf8), fin: false), clientFrame(ping, [1, 2]),
            clientFrame(continuation, Array("lo".utf8)))
        #expect(found == [.ping(ByteBuffer(bytes: [1, 2])), .message(ByteBuffer(string: "hello"), isText: true)])
    }

    @Test func framingViolationsFailWith1002AndNothingMoreIsRead() {
        let cases: [(Bool, ByteBuffer)] = [
            (false, clientFrame(text, [0x61], masked: false)),
            (false, clientFrame(text, [0x61], rsv: 0b010)),
            (false, clientFrame(text, [0x61], rsv: 0b100)),
            (true, clientFrame(continuation, [0x61], rsv: 0b100)),
            (false, clientFrame(continuation, [0x61])),
            (false, clientFrame(0x3, [])),
        ]
        for (deflate, bytes) in cases {
            var assembler = MessageAssembler(messageLimit: 1024, deflate: deflate)
            let found = actions(&assembler, bytes, clientFrame(text, [0x62]))
            #expect(found.count == 1 && failure(found.first) == 1002, "\(found)")
            #expect(assembler.isBroken)
        }
        var assembler = MessageAssembler(messageLimit: 1024, deflate: false)
        let interleaved = actions(&assembler, clientFrame(text, [0x61], fin: false), clientFrame(text, [0x62]))
        #expect(failure(interleaved.last) == 1002)
    }

    @Test func fragmentedTextFailsAsSoonAsItCannotBeUTF8() {
        var assembler = MessageAssembler(messageLimit: 1024, deflate: false)
        // 0xC3 alone may still be completed; 0xC3 0x28 never can.
        #expect(actions(&assembler, clientFrame(text, [0x61, 0xC3], fin: false)).isEmpty)
        #expect(failure(actions(&assembler, clientFrame(continuation, [0x28], fin: false)).first) == 1007)
    }

    @Test func theLimitHoldsToTheByteAcrossFragments() {
        var assembler = MessageAssembler(messageLimit: 10, deflate: false)
        #expect(
            actions(&assembler, clientFrame(text, Array("12345".utf8), fin: false), clientFrame(continuation, Array("67890".utf8)))
                == [.message(ByteBuffer(string: "1234567890"), isText: true)])
        let over = actions(&assembler, clientFrame(text, Array("12345".utf8), fin: false), clientFrame(continuation, Array("678901".utf8)))
        #expect(failure(over.first) == 1009)
        var single = MessageAssembler(messageLimit: 10, deflate: false)
        #expect(failure(actions(&single, clientFrame(text, Array("12345678901".utf8))).first) == 1009)
    }

    /// A compressed message is admitted by its inflated size: exactly the limit passes, one byte
    /// more closes 1009, however small it was on the wire.
    @Test(arguments: [65_536, 65_537, 66_000, 70_000, 131_072])
    func theLimitHoldsToTheByteOnceInflated(size: Int) throws {
        let limit = 65_536
        let compression = LoopCompression()
        var serverFrame = try #require(
            compression.compressedFrame(.text, payload: ByteBuffer(repeating: UInt8(ascii: "a"), count: size), windowBits: 15, allocator: .init()))
        let parsed = try #require(try FrameParser(maxPayload: 1 << 20).next(from: &serverFrame))
        var assembler = MessageAssembler(messageLimit: limit, deflate: true)
        let found = actions(&assembler, clientFrame(text, Array(parsed.payload.readableBytesView), rsv: 0b100))
        guard case .compressedMessage(let compressed, let isText) = found.first else {
            Issue.record("expected a compressed message, got \(found)")
            return
        }
        let admitted: MessageAssembler.Action
        do {
            admitted = assembler.admitInflated(try compression.inflate(compressed, limit: limit, allocator: .init()), isText: isText)
        } catch {
            admitted = assembler.failInflating(tooLarge: error == .tooLarge)
        }
        if size <= limit {
            guard case .message(let message, isText: true) = admitted else {
                Issue.record("\(size) bytes: \(admitted)")
                return
            }
            #expect(message.readableBytes == size)
        } else {
            #expect(failure(admitted) == 1009, "\(size) bytes: \(admitted)")
        }
    }
}

@Suite("Session state machines: mailbox, replies, close, heartbeat")
struct SessionDecisionTests {
    let frame = ByteBuffer(string: "0123456789")

    @Test func framesGoStraightOutWhileTheSocketKeepsUp() {
        var mailbox = OutboundMailbox()
        let limits = OutboundMailbox.Limits(frames: 2, bytes: 1000, policy: .close)
        #expect(mailbox.push(frame, writable: true, limits: limits) == .write)
        #expect(mailbox.push(frame, writable: false, limits: limits) == .queued)
        // Once something waits, later frames wait behind it even when the socket is writable.
        #expect(mailbox.push(frame, writable: true, limits: limits) == .queued)
        #expect(mailbox.push(frame, writable: false, limits: limits) == .closeSlowConsumer)
        #expect(mailbox.figures.depth == 2 && mailbox.figures.dropped == 1 && mailbox.figures.peak == 2)
        let popped = [mailbox.pop(), mailbox.pop(), mailbox.pop()]
        #expect(popped.map { $0 != nil } == [true, true, false])
        #expect(mailbox.figures.enqueued == 4 && mailbox.figures.dequeued == 3)
    }

    @Test func dropOldestKeepsTheNewestWithinBothBounds() {
        var mailbox = OutboundMailbox()
        let limits = OutboundMailbox.Limits(frames: 10, bytes: 25, policy: .dropOldest)
        for index in 0..<5 {
            #expect(mailbox.push(ByteBuffer(string: "frame-\(index)..."), writable: false, limits: limits) == .queued)
        }
        #expect(mailbox.depth == 2 && mailbox.queuedBytes <= 25)
        let oldest = mailbox.pop()
        #expect(oldest.map { String(buffer: $0) } == "frame-3...")
        #expect(mailbox.figures.dropped == 3)
    }

    @Test func aMailboxWithoutLimitsNeverCloses() {
        var mailbox = OutboundMailbox()
        for _ in 0..<1000 { #expect(mailbox.push(frame, writable: false, limits: nil) == .queued) }
        #expect(mailbox.depth == 1000)
        mailbox.discard()
        #expect(mailbox.isEmpty && mailbox.figures.dropped == 1000 && mailbox.queuedBytes == 0)
    }

    @Test func repliesKeepRequestOrderAroundAcksFromOtherLoops() {
        var replies = ReplyOrder()
        #expect(replies.reply(ByteBuffer(string: "r1")) != nil)
        let first = replies.reserve()
        #expect(replies.reply(ByteBuffer(string: "r3")) == nil)
        let second = replies.reserve()
        #expect(replies.reply(ByteBuffer(string: "r5")) == nil)
        // A reply may carry what follows it (a subscription's replay): it runs in its turn.
        var released: [String] = []
        replies.fill(ticket: second, with: ByteBuffer(string: "ack4")) { released.append("after ack4") }
        #expect(replies.nextReady() == nil)
        replies.fill(ticket: first, with: ByteBuffer(string: "ack2"))
        while let ready = replies.nextReady() {
            released.append(String(buffer: ready.frame))
            ready.then?()
        }
        #expect(released == ["ack2", "r3", "ack4", "after ack4", "r5"])
        replies.fill(ticket: 99, with: ByteBuffer(string: "stray"))
        #expect(replies.nextReady() == nil)
        #expect(replies.reply(ByteBuffer(string: "r6")) != nil)
    }

    private func payload(code: UInt16?, reason: [UInt8] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        if let code { buffer.writeInteger(code) }
        buffer.writeBytes(reason)
        return buffer
    }

    @Test func thePeersCloseIsAnsweredWithItsCodeOrWhyNot() {
        let cases: [(ByteBuffer, CloseHandshake.PeerCloseAnswer, UInt16)] = [
            (payload(code: nil), .reply(code: 1000, reason: ""), 1005),
            (ByteBuffer(bytes: [0x03]), .reply(code: 1002, reason: "close frame payload of one byte"), 1005),
            (payload(code: 4001, reason: Array("bye".utf8)), .reply(code: 4001, reason: ""), 4001),
            (payload(code: 1005), .reply(code: 1002, reason: "invalid close code 1005"), 1005),
            (payload(code: 1000, reason: [0xFF]), .reply(code: 1007, reason: "close reason is not valid UTF-8"), 1000),
        ]
        for (frame, answer, recorded) in cases {
            var handshake = CloseHandshake()
            #expect(handshake.peerCloses(payload: frame) == answer)
            #expect(handshake.ending?.code == recorded && handshake.ending?.byServer == false)
            #expect(handshake.peerCloses(payload: frame) == .closeSocket)
        }
    }

    @Test func oneCloseWhoeverStartsIt() {
        var handshake = CloseHandshake()
        #expect(handshake.isOpen)
        let started = handshake.serverCloses(code: 4002, reason: "slow consumer")
        let startedAgain = handshake.serverCloses(code: 4000, reason: "kicked")
        #expect(started && !startedAgain)
        handshake.transportEnds(code: 1006, reason: "lost")
        #expect(handshake.ending == CloseHandshake.Ending(code: 4002, reason: "slow consumer", byServer: true))
        #expect(handshake.peerCloses(payload: payload(code: 1000)) == .closeSocket)
        let finished = handshake.finish()
        let finishedAgain = handshake.finish()
        #expect(finished && !finishedAgain)
        #expect(handshake.isClosed && handshake.ending?.code == 4002)
        #expect(handshake.peerCloses(payload: payload(code: 1000)) == .ignore)

        var lost = CloseHandshake()
        lost.transportEnds(code: 1006, reason: "connection closed without a close frame")
        let kicked = lost.serverCloses(code: 4000, reason: "kicked")
        #expect(!lost.isOpen && !kicked)
        let lostFinished = lost.finish()
        #expect(lostFinished && lost.ending?.code == 1006)
    }

    @Test func aSilentClientIsPingedBeforeItIsClosed() {
        var heartbeat = Heartbeat(now: 0)
        #expect(heartbeat.check(now: 5, interval: 10) == .none)
        // The loop ran late: three intervals of silence still get a ping first.
        #expect(heartbeat.check(now: 30, interval: 10) == .ping)
        #expect(heartbeat.check(now: 35, interval: 10) == .none)
        #expect(heartbeat.check(now: 40, interval: 10) == .giveUp)
        heartbeat.heard(at: 41)
        #expect(heartbeat.check(now: 50, interval: 10) == .none)
        #expect(heartbeat.check(now: 51, interval: 10) == .ping)
        heartbeat.heard(at: 52)
        #expect(heartbeat.check(now: 62, interval: 10) == .ping)
        #expect(heartbeat.lastInbound == 52)
    }
}
