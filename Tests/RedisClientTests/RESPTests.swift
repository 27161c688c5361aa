import NIOCore
import RedisClient
import Testing

@Suite struct RESPTests {
    let decoder = RESPDecoder()

    private func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Every value in `text`, and the bytes left over.
    private func decodeAll(_ text: String, with decoder: RESPDecoder = RESPDecoder()) throws(RESPDecoder.Failure) -> ([RESPValue], Int) {
        var buffer = bytes(text)
        var values: [RESPValue] = []
        while let value = try decoder.next(from: &buffer) { values.append(value) }
        return (values, buffer.readableBytes)
    }

    private func failure(_ text: String, with decoder: RESPDecoder = RESPDecoder()) -> RESPDecoder.Failure? {
        do {
            _ = try decodeAll(text, with: decoder)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyTypeDecodes() throws {
        let (values, rest) = try decodeAll("+OK\r\n-ERR no\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n")
        #expect(rest == 0)
        #expect(
            values == [
                .simpleString(bytes("OK")), .error(bytes("ERR no")), .integer(-42), .bulkString(bytes("he\r\no")), .bulkString(nil),
                .array(nil), .array([]), .bulkString(bytes("")),
            ])
        #expect(values[1].string == "ERR no" && values[2].int == -42)
    }

    @Test func nestedArraysAndPushFrames() throws {
        let (values, _) = try decodeAll("*2\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
        #expect(values[0] == .array([.integer(1), .array([.simpleString(bytes("a")), .bulk("b")])]))
        #expect(values[1] == .push([.bulk("message"), .bulk("ch"), .bulk("hi")]))
        #expect(values[1].elements?.count == 3)
    }

    /// Bytes arriving one at a time: nothing is consumed until a value is complete, and then
    /// exactly its bytes.
    @Test func incompleteValuesConsumeNothing() throws {
        let wire = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n+PONG\r\n"
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in wire.utf8 {
            buffer.writeInteger(byte)
            let before = buffer.readableBytes
            if let value = try decoder.next(from: &buffer) {
                values.append(value)
            } else {
                #expect(buffer.readableBytes == before)
            }
        }
        #expect(values == [.array([.bulk("subscribe"), .bulk("news"), .integer(1)]), .simpleString(bytes("PONG"))])
        #expect(buffer.readableBytes == 0)
    }

    @Test func malformedBytesAreRefused() {
        #expect(failure("?what\r\n") == .unknownType(UInt8(ascii: "?")))
        #expect(failure(":12a\r\n") == .malformed("not an integer"))
        #expect(failure(":\r\n") == .malformed("not an integer"))
        #expect(failure("$-2\r\n") == .malformed("bulk string length -2"))
        #expect(failure("$3\r\nabcd\r\n") == .malformed("bulk string not followed by CRLF"))
        #expect(failure("+OK\rX") == .malformed("CR not followed by LF"))
        #expect(failure(">-1\r\n") == .malformed("array length -1"))
        #expect(failure(":99999999999999999999\r\n") == .malformed("integer out of range"))
    }

    @Test func limitsHoldBeforeTheBytesArrive() {
        let small = RESPDecoder(limits: .init(bulkBytes: 10, arrayCount: 3, depth: 2, lineBytes: 12))
        // The declared length alone is refused: no waiting for 2 GB that will never fit.
        #expect(failure("$2000000000\r\n", with: small) == .tooLarge("bulk string of 2000000000 bytes (limit 10)"))
        #expect(failure("*4\r\n", with: small) == .tooLarge("array of 4 elements (limit 3)"))
        #expect(failure("*1\r\n*1\r\n*1\r\n:1\r\n", with: small) == .tooDeep)
        #expect(failure("+0123456789abcdefgh", with: small) == .tooLarge("line longer than 12 bytes"))
        #expect(failure("$10\r\n0123456789\r\n", with: small) == nil)
    }

    @Test func commandsAndValuesRoundTrip() throws {
        var wire = ByteBuffer()
        RESPEncoder.command(["EVALSHA", "abc", "1", "{news}:seq"], into: &wire)
        RESPEncoder.command([ByteBuffer(bytes: [0x00, 0xFF, 0x0D, 0x0A])], into: &wire)
        #expect(String(buffer: wire).hasPrefix("*4\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$10\r\n{news}:seq\r\n"))
        #expect(try decoder.next(from: &wire) == .array([.bulk("EVALSHA"), .bulk("abc"), .bulk("1"), .bulk("{news}:seq")]))
        #expect(try decoder.next(from: &wire) == .array([.bulkString(ByteBuffer(bytes: [0x00, 0xFF, 0x0D, 0x0A]))]))
        let values: [RESPValue] = [
            .simpleString(bytes("OK")), .error(bytes("NOSCRIPT No matching script")), .integer(Int64.min + 1), .bulkString(nil),
            .array(nil), .array([.array([]), .bulk("x")]), .push([.bulk("pong"), .bulk("")]),
        ]
        var buffer = ByteBuffer()
        for value in values { RESPEncoder.write(value, into: &buffer) }
        var decoded: [RESPValue] = []
        while let value = try decoder.next(from: &buffer) { decoded.append(value) }
        #expect(decoded == values)
    }
}
