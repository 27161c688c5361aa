import NIOCore
import SwitchboardCore
import Testing

@Suite struct FrameParserTests {
    let parser = FrameParser(maxPayload: 70_000)

    func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

    @Test func partialFramesConsumeNothing() throws {
        let full: [UInt8] = [0x81, 0x85, 1, 2, 3, 4] + Array("hello".utf8)
        for cut in 0..<full.count {
            var buffer = bytes(Array(full[..<cut]))
            #expect(try parser.next(from: &buffer) == nil)
            #expect(buffer.readableBytes == cut)
        }
    }

    @Test func readsMaskedFramesAndLeavesTheRest() throws {
        var buffer = bytes([0x81, 0x82, 9, 8, 7, 6, 0x41, 0x42, 0x8A, 0x00])
        let frame = try #require(try parser.next(from: &buffer))
        #expect(frame.fin && frame.opcode == 1 && frame.reservedBits == 0)
        #expect(frame.maskKey.map(Array.init) == [9, 8, 7, 6])
        #expect(Array(frame.payload.readableBytesView) == [0x41, 0x42])
        let pong = try #require(try parser.next(from: &buffer))
        #expect(pong.opcode == 0xA && pong.maskKey == nil && pong.payload.readableBytes == 0)
        #expect(buffer.readableBytes == 0)
    }

    @Test func sixteenAndSixtyFourBitLengths() throws {
        var medium = bytes([0x02, 0x7E, 0x01, 0x00] + Array(repeating: 7, count: 256))
        #expect(try parser.next(from: &medium)?.payload.readableBytes == 256)
        var large = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0] + Array(repeating: 1, count: 65_536))
        let frame = try #require(try parser.next(from: &large))
        #expect(frame.payload.readableBytes == 65_536 && frame.reservedBits == 0 && frame.fin)
    }

    @Test func theLengthsTopBitIsAProtocolError() {
        var buffer = bytes([0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5])
        #expect(throws: FrameParser.Violation.malformed("frame length has its most significant bit set")) {
            try parser.next(from: &buffer)
        }
    }

    @Test func anOversizedHeaderIsRefusedBeforeItsPayloadArrives() {
        var huge = bytes([0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: FrameParser.Violation.tooLarge(declared: UInt64(Int64.max))) { try parser.next(from: &huge) }
        var justOver = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0x11, 0x71])
        #expect(throws: FrameParser.Violation.tooLarge(declared: 70_001)) { try parser.next(from: &justOver) }
    }

    @Test func controlFramesAreShortAndFinal() {
        var long = bytes([0x89, 0x7E, 0x00, 0x7E])
        #expect(throws: FrameParser.Violation.malformed("control frame longer than 125 bytes")) { try parser.next(from: &long) }
        var fragmented = bytes([0x09, 0x00])
        #expect(throws: FrameParser.Violation.malformed("fragmented control frame")) { try parser.next(from: &fragmented) }
    }

    @Test func reservedBitsAndOpcodesAreReportedNotJudged() throws {
        var buffer = bytes([0x73, 0x00])
        let frame = try #require(try parser.next(from: &buffer))
        #expect(!frame.fin && frame.reservedBits == 0b111 && frame.opcode == 0x3)
    }
}
