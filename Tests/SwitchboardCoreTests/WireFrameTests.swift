import NIOCore
import Testing

@testable import SwitchboardCore

@Suite("WireFrame")
struct WireFrameTests {
    let allocator = ByteBufferAllocator()

    static func payload(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    @Test("opcodes have the RFC 6455 values")
    func opcodes() {
        #expect(WireFrame.Opcode.continuation.rawValue == 0x0)
        #expect(WireFrame.Opcode.text.rawValue == 0x1)
        #expect(WireFrame.Opcode.binary.rawValue == 0x2)
        #expect(WireFrame.Opcode.close.rawValue == 0x8)
        #expect(WireFrame.Opcode.ping.rawValue == 0x9)
        #expect(WireFrame.Opcode.pong.rawValue == 0xA)
        #expect(WireFrame.reservedHeaderBytes == 10)
    }

    /// (payload length, unmasked header size)
    static let headerSizes: [(Int, Int)] = [
        (0, 2), (1, 2), (125, 2), (126, 4), (127, 4), (1000, 4), (65535, 4), (65536, 10), (1 << 20, 10), (Int(UInt32.max) + 1, 10),
    ]

    @Test("header sizes switch at 126 and 65536 bytes", arguments: headerSizes)
    func headerSize(length: Int, size: Int) {
        #expect(WireFrame.headerSize(payloadLength: length, masked: false) == size)
        #expect(WireFrame.headerSize(payloadLength: length, masked: true) == size + 4)
    }

    /// (payload length, the exact header bytes of an unmasked FIN text frame)
    static let headers: [(Int, [UInt8])] = [
        (0, [0x81, 0x00]),
        (5, [0x81, 0x05]),
        (125, [0x81, 125]),
        (126, [0x81, 126, 0x00, 0x7E]),
        (127, [0x81, 126, 0x00, 0x7F]),
        (256, [0x81, 126, 0x01, 0x00]),
        (65535, [0x81, 126, 0xFF, 0xFF]),
        (65536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        (70000, [0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]),
    ]

    @Test("make writes the exact header and the payload", arguments: headers)
    func makeFrame(length: Int, header: [UInt8]) throws {
        let payload = Self.payload(length)
        let frame = WireFrame.make(.text, payload: payload, allocator: allocator)
        let bytes = Array(frame.readableBytesView)
        #expect(bytes.count == header.count + length)
        #expect(Array(bytes.prefix(header.count)) == header)
        #expect(Array(bytes.dropFirst(header.count)) == payload)
        let parsed = try parseFrame(bytes)
        #expect(parsed.fin)
        #expect(parsed.reservedBits == 0)
        #expect(parsed.maskKey == nil)
        #expect(parsed.payload == payload)
    }

    @Test("begin/finish produce the same frame as make, for every header size", arguments: [0, 1, 125, 126, 65535, 65536])
    func beginFinish(length: Int) throws {
        let payload = Self.payload(length)
        var buffer = WireFrame.begin(allocator: allocator, payloadCapacity: length)
        #expect(buffer.readableBytes == 0)
        #expect(buffer.readerIndex == WireFrame.reservedHeaderBytes)
        #expect(buffer.capacity >= WireFrame.reservedHeaderBytes + length)
        buffer.writeBytes(payload)
        #expect(buffer.readableBytes == length)
        WireFrame.finish(&buffer, opcode: .binary)

        let headerSize = WireFrame.headerSize(payloadLength: length, masked: false)
        // The header sits right before the payload, inside the reserved room.
        #expect(buffer.readerIndex == WireFrame.reservedHeaderBytes - headerSize)
        #expect(buffer.readableBytes == headerSize + length)
        let parsed = try parseFrame(buffer)
        #expect(parsed.opcode == WireFrame.Opcode.binary.rawValue)
        #expect(parsed.fin)
        #expect(parsed.headerLength == headerSize)
        #expect(parsed.payload == payload)
        #expect(buffer == WireFrame.make(.binary, payload: payload, allocator: allocator))
    }

    @Test("finish writes FIN plus the opcode", arguments: [.continuation, .text, .binary, .close, .ping, .pong] as [WireFrame.Opcode])
    func finishOpcode(opcode: WireFrame.Opcode) throws {
        var buffer = WireFrame.begin(allocator: allocator, payloadCapacity: 3)
        buffer.writeString("abc")
        WireFrame.finish(&buffer, opcode: opcode)
        #expect(Array(buffer.readableBytesView) == [0x80 | opcode.rawValue, 3, 0x61, 0x62, 0x63])
    }

    @Test("finish takes the payload written in several pieces")
    func finishSeveralWrites() throws {
        var buffer = WireFrame.begin(allocator: allocator, payloadCapacity: 4)  // grows past its capacity
        buffer.writeString("{\"a\":")
        buffer.writeBytes(Array(repeating: UInt8(ascii: "1"), count: 200))
        buffer.writeString("}")
        WireFrame.finish(&buffer, opcode: .text)
        let parsed = try parseFrame(buffer)
        #expect(parsed.lengthField == 126)
        #expect(parsed.text == "{\"a\":" + String(repeating: "1", count: 200) + "}")
    }

    @Test("RFC 6455 §5.7 examples: unmasked text, ping, 256-byte and 64 KiB binary")
    func rfcExamples() {
        let hello = Array("Hello".utf8)
        #expect(
            Array(WireFrame.make(.text, payload: hello, allocator: allocator).readableBytesView)
                == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        )
        #expect(
            Array(WireFrame.make(.ping, payload: hello, allocator: allocator).readableBytesView)
                == [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        )
        let binary256 = WireFrame.make(.binary, payload: [UInt8](repeating: 0, count: 256), allocator: allocator)
        #expect(Array(binary256.readableBytesView.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        let binary64k = WireFrame.make(.binary, payload: [UInt8](repeating: 0, count: 65536), allocator: allocator)
        #expect(Array(binary64k.readableBytesView.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
    }

    @Test("make accepts any collection of bytes")
    func makeFromCollections() {
        let fromString = WireFrame.make(.text, payload: "hi".utf8, allocator: allocator)
        let fromSlice = WireFrame.make(.text, payload: Array("xhi".utf8)[1...], allocator: allocator)
        let fromBuffer = WireFrame.make(.text, payload: ByteBuffer(string: "hi").readableBytesView, allocator: allocator)
        #expect(Array(fromString.readableBytesView) == [0x81, 2, 0x68, 0x69])
        #expect(fromSlice == fromString)
        #expect(fromBuffer == fromString)
    }

    // MARK: - Close frames

    @Test("a close frame carries the code big-endian and the reason")
    func closeFrame() throws {
        let frame = WireFrame.close(code: 1000, reason: "bye", allocator: allocator)
        #expect(Array(frame.readableBytesView) == [0x88, 5, 0x03, 0xE8, 0x62, 0x79, 0x65])
        let empty = WireFrame.close(code: 1001, reason: "", allocator: allocator)
        #expect(Array(empty.readableBytesView) == [0x88, 2, 0x03, 0xE9])
        let custom = WireFrame.close(code: 4000, reason: "é", allocator: allocator)
        #expect(Array(custom.readableBytesView) == [0x88, 4, 0x0F, 0xA0, 0xC3, 0xA9])
        let big = WireFrame.close(code: 0xFFFF, reason: "", allocator: allocator)
        #expect(Array(big.readableBytesView) == [0x88, 2, 0xFF, 0xFF])
    }

    /// (reason, how many of its bytes survive)
    static let closeReasons: [(String, Int)] = [
        (String(repeating: "a", count: 123), 123),
        (String(repeating: "a", count: 124), 123),
        (String(repeating: "a", count: 500), 123),
        (String(repeating: "a", count: 122) + "é", 122),  // é would end at byte 124
        (String(repeating: "a", count: 121) + "é", 123),  // é ends exactly at 123
        (String(repeating: "a", count: 121) + "€", 121),  // € (3 bytes) would end at 124
        (String(repeating: "a", count: 120) + "€", 123),
        (String(repeating: "a", count: 122) + "€", 122),
        (String(repeating: "😀", count: 31), 120),  // 124 bytes: the 31st emoji goes
        (String(repeating: "😀", count: 30) + "abc", 123),
        (String(repeating: "é", count: 62), 122),  // 124 bytes
        (String(repeating: "日", count: 41), 123),  // exactly 123
        (String(repeating: "日", count: 42), 123),  // 126 bytes: cut back to 123
    ]

    @Test("close reasons are cut to 123 bytes on a character boundary", arguments: closeReasons)
    func closeReasonTruncated(reason: String, kept: Int) throws {
        let frame = WireFrame.close(code: 1008, reason: reason, allocator: allocator)
        let parsed = try parseFrame(frame)
        #expect(parsed.opcode == WireFrame.Opcode.close.rawValue)
        #expect(parsed.fin)
        #expect(parsed.payload.count == 2 + kept)
        #expect(parsed.payload.count <= 125, "control frames carry at most 125 bytes")
        #expect(Array(parsed.payload.prefix(2)) == [0x03, 0xF0])
        let keptBytes = Array(parsed.payload.dropFirst(2))
        #expect(keptBytes == Array(reason.utf8.prefix(kept)))
        #expect(String(validating: keptBytes, as: UTF8.self) != nil, "the cut reason must stay valid UTF-8")
    }

    @Test("truncatedUTF8 never splits a character, whatever the limit")
    func truncatedUTF8AnyLimit() {
        let text = "aé€😀b日本語😀x"
        let all = Array(text.utf8)
        for limit in 0...(all.count + 2) {
            let cut = WireFrame.truncatedUTF8(text, maxBytes: limit)
            #expect(cut.count <= limit)
            #expect(cut == Array(all.prefix(cut.count)))
            #expect(String(validating: cut, as: UTF8.self) != nil, "limit \(limit)")
            // It keeps as much as possible: the next character would not have fit.
            if cut.count < all.count {
                let nextCharacterEnd = (cut.count + 1...all.count).first { end in
                    end == all.count || all[end] & 0xC0 != 0x80
                }!
                #expect(nextCharacterEnd > limit, "limit \(limit) kept only \(cut.count)")
            }
        }
        #expect(WireFrame.truncatedUTF8("", maxBytes: 0) == [])
        #expect(WireFrame.truncatedUTF8("abc", maxBytes: 0) == [])
        #expect(WireFrame.truncatedUTF8("😀", maxBytes: 3) == [])
        #expect(WireFrame.truncatedUTF8("abc", maxBytes: 3) == Array("abc".utf8))
    }

    // MARK: - Masked frames

    @Test("RFC 6455 §5.7 example: a masked \"Hello\"")
    func rfcMaskedExample() {
        var buffer = ByteBuffer()
        Array("Hello".utf8).withUnsafeBytes {
            WireFrame.writeMasked(.text, payload: $0, maskKey: 0x37FA_213D, into: &buffer)
        }
        #expect(Array(buffer.readableBytesView) == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    }

    @Test("writeMasked frames unmask to the payload, for every header size", arguments: [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536])
    func maskedRoundTrip(length: Int) throws {
        let payload = Self.payload(length)
        var buffer = ByteBuffer()
        payload.withUnsafeBytes {
            WireFrame.writeMasked(.binary, payload: $0, maskKey: 0xA1B2_C3D4, into: &buffer)
        }
        let bytes = Array(buffer.readableBytesView)
        let headerSize = WireFrame.headerSize(payloadLength: length, masked: true)
        #expect(bytes.count == headerSize + length)
        let parsed = try parseFrame(bytes)
        #expect(parsed.fin)
        #expect(parsed.opcode == 0x2)
        #expect(parsed.headerLength == headerSize)
        #expect(parsed.maskKey == [0xA1, 0xB2, 0xC3, 0xD4])
        #expect(parsed.payload == payload)
        // The bytes on the wire really are masked.
        let wire = Array(bytes.dropFirst(headerSize))
        let mask: [UInt8] = [0xA1, 0xB2, 0xC3, 0xD4]
        #expect(wire == payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        if length > 0 { #expect(wire != payload) }
    }

    @Test("masked length fields use the minimal encoding")
    func maskedLengthFields() {
        func header(_ length: Int) -> [UInt8] {
            var buffer = ByteBuffer()
            [UInt8](repeating: 0, count: length).withUnsafeBytes {
                WireFrame.writeMasked(.text, payload: $0, maskKey: 0x0102_0304, into: &buffer)
            }
            return Array(buffer.readableBytesView.prefix(WireFrame.headerSize(payloadLength: length, masked: true)))
        }
        #expect(header(125) == [0x81, 0x80 | 125, 1, 2, 3, 4])
        #expect(header(126) == [0x81, 0x80 | 126, 0x00, 0x7E, 1, 2, 3, 4])
        #expect(header(65535) == [0x81, 0x80 | 126, 0xFF, 0xFF, 1, 2, 3, 4])
        #expect(header(65536) == [0x81, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4])
    }

    @Test("a zero payload shows the mask key repeating, big-endian")
    func maskPattern() {
        var buffer = ByteBuffer()
        [UInt8](repeating: 0, count: 10).withUnsafeBytes {
            WireFrame.writeMasked(.binary, payload: $0, maskKey: 0x3779_1A2B, into: &buffer)
        }
        #expect(
            Array(buffer.readableBytesView)
                == [0x82, 0x8A, 0x37, 0x79, 0x1A, 0x2B, 0x37, 0x79, 0x1A, 0x2B, 0x37, 0x79, 0x1A, 0x2B, 0x37, 0x79]
        )
    }

    @Test("a zero mask key leaves the payload readable, and fin: false clears FIN")
    func zeroMaskAndNoFin() throws {
        var buffer = ByteBuffer()
        Array("part".utf8).withUnsafeBytes {
            WireFrame.writeMasked(.text, payload: $0, maskKey: 0, fin: false, into: &buffer)
        }
        #expect(Array(buffer.readableBytesView) == [0x01, 0x84, 0, 0, 0, 0, 0x70, 0x61, 0x72, 0x74])
        let parsed = try parseFrame(buffer)
        #expect(!parsed.fin)
        #expect(parsed.text == "part")
    }

    @Test("writeMasked appends after what the buffer already holds")
    func writeMaskedAppends() throws {
        var buffer = ByteBuffer()
        Array("one".utf8).withUnsafeBytes { WireFrame.writeMasked(.text, payload: $0, maskKey: 0xDEAD_BEEF, into: &buffer) }
        let firstLength = buffer.readableBytes
        Array("two!".utf8).withUnsafeBytes {
            WireFrame.writeMasked(.continuation, payload: $0, maskKey: 0x0BAD_F00D, fin: true, into: &buffer)
        }
        let bytes = Array(buffer.readableBytesView)
        let first = try parseFrame(Array(bytes[..<firstLength]))
        let second = try parseFrame(Array(bytes[firstLength...]))
        #expect(first.text == "one")
        #expect(first.opcode == 0x1)
        #expect(second.text == "two!")
        #expect(second.opcode == 0x0)
        #expect(second.maskKey == [0x0B, 0xAD, 0xF0, 0x0D])
    }
}
