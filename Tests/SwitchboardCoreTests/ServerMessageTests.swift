import NIOCore
import Testing

@testable import SwitchboardCore

@Suite("ServerMessage")
struct ServerMessageTests {
    let allocator = ByteBufferAllocator()

    /// The payload of `frame`, after checking it is exactly one final, unmasked text frame that
    /// holds valid UTF-8 and valid JSON.
    func payload(of frame: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let parsed = try parseFrame(frame)
        #expect(parsed.fin, sourceLocation: sourceLocation)
        #expect(parsed.opcode == WireFrame.Opcode.text.rawValue, sourceLocation: sourceLocation)
        #expect(parsed.reservedBits == 0, sourceLocation: sourceLocation)
        #expect(parsed.maskKey == nil, "server frames are never masked", sourceLocation: sourceLocation)
        #expect(UTF8Validation.isValid(parsed.payload), sourceLocation: sourceLocation)
        _ = try scanDocument(parsed.payload)
        return parsed.text
    }

    static func id(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }

    @Test("welcome")
    func welcome() throws {
        let frame = ServerMessage.welcome(client: "c-42", version: "1.2.3", heartbeatSeconds: 15, allocator: allocator)
        #expect(
            try payload(of: frame)
                == #"{"type":"welcome","client":"c-42","server":"switchboard/1.2.3","heartbeat_s":15}"#
        )
        let zero = ServerMessage.welcome(client: "x", version: "0.0.1-dev", heartbeatSeconds: 0, allocator: allocator)
        #expect(try payload(of: zero) == #"{"type":"welcome","client":"x","server":"switchboard/0.0.1-dev","heartbeat_s":0}"#)
        let user = ServerMessage.welcome(client: "c-1", user: "ann \"a\"", version: "1", heartbeatSeconds: 15, allocator: allocator)
        #expect(try payload(of: user) == #"{"type":"welcome","client":"c-1","user":"ann \"a\"","server":"switchboard/1","heartbeat_s":15}"#)
    }

    @Test("subscribed, with and without an id")
    func subscribed() throws {
        #expect(
            try payload(of: ServerMessage.subscribed(channel: "news", id: nil, allocator: allocator))
                == #"{"type":"subscribed","channel":"news"}"#
        )
        #expect(
            try payload(of: ServerMessage.subscribed(channel: "news", id: Self.id(#""s-1""#), allocator: allocator))
                == #"{"type":"subscribed","channel":"news","id":"s-1"}"#
        )
        #expect(
            try payload(of: ServerMessage.subscribed(channel: "a/b:c@d.e-f_g", id: Self.id("42"), allocator: allocator))
                == #"{"type":"subscribed","channel":"a/b:c@d.e-f_g","id":42}"#
        )
    }

    @Test("unsubscribed, with and without an id")
    func unsubscribed() throws {
        #expect(
            try payload(of: ServerMessage.unsubscribed(channel: "news", id: nil, allocator: allocator))
                == #"{"type":"unsubscribed","channel":"news"}"#
        )
        #expect(
            try payload(of: ServerMessage.unsubscribed(channel: "news", id: Self.id("-1.5e3"), allocator: allocator))
                == #"{"type":"unsubscribed","channel":"news","id":-1.5e3}"#
        )
    }

    @Test("pong, with and without an id")
    func pong() throws {
        #expect(try payload(of: ServerMessage.pong(id: nil, allocator: allocator)) == #"{"type":"pong"}"#)
        #expect(try payload(of: ServerMessage.pong(id: Self.id("7"), allocator: allocator)) == #"{"type":"pong","id":7}"#)
        #expect(
            try payload(of: ServerMessage.pong(id: Self.id(#""a\"b""#), allocator: allocator))
                == #"{"type":"pong","id":"a\"b"}"#
        )
    }

    @Test("ack echoes the id verbatim")
    func ack() throws {
        #expect(try payload(of: ServerMessage.ack(id: Self.id("7"), allocator: allocator)) == #"{"type":"ack","id":7}"#)
        #expect(
            try payload(of: ServerMessage.ack(id: Self.id(#""p-\u00e9""#), allocator: allocator))
                == #"{"type":"ack","id":"p-\u00e9"}"#
        )
    }

    @Test("the id buffer's reader index is respected and the buffer is not consumed")
    func idSliceIsRespected() throws {
        var id = ByteBuffer(string: #"xx"k""#)
        id.moveReaderIndex(forwardBy: 2)
        let frame = ServerMessage.ack(id: id, allocator: allocator)
        #expect(try payload(of: frame) == #"{"type":"ack","id":"k"}"#)
        #expect(id.readableBytes == 3)
    }

    @Test("error, with and without an id")
    func errorMessage() throws {
        let error = ProtocolError(.unknownType, "unknown type")
        #expect(
            try payload(of: ServerMessage.error(error, id: nil, allocator: allocator))
                == #"{"type":"error","code":"unknown_type","message":"unknown type"}"#
        )
        #expect(
            try payload(of: ServerMessage.error(error, id: Self.id(#""q""#), allocator: allocator))
                == #"{"type":"error","code":"unknown_type","message":"unknown type","id":"q"}"#
        )
    }

    @Test("error uses the id argument, not the span inside the error")
    func errorIDArgument() throws {
        let error = ProtocolError(.missingData, "m", id: JSONScanner.Span(start: 0, end: 1))
        #expect(
            try payload(of: ServerMessage.error(error, id: nil, allocator: allocator))
                == #"{"type":"error","code":"missing_data","message":"m"}"#
        )
    }

    @Test("every error code renders as its slug", arguments: ProtocolError.Code.allCases)
    func errorCodes(code: ProtocolError.Code) throws {
        let frame = ServerMessage.error(ProtocolError(code, "x"), id: nil, allocator: allocator)
        #expect(try payload(of: frame) == #"{"type":"error","code":"\#(code.rawValue)","message":"x"}"#)
    }

    /// (message, its JSON text)
    static let escapedMessages: [(String, String)] = [
        ("", #""""#),
        ("plain", #""plain""#),
        (#"say "hi""#, #""say \"hi\"""#),
        (#"back\slash"#, #""back\\slash""#),
        ("a/b", #""a/b""#),
        ("line\nbreak", #""line\nbreak""#),
        ("cr\rtab\t", #""cr\rtab\t""#),
        ("\u{0}\u{1}\u{8}\u{C}\u{1F}", #""\u0000\u0001\u0008\u000c\u001f""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("é 日本 😀", "\"é 日本 😀\""),
        ("\u{2028}", "\"\u{2028}\""),
    ]

    @Test("error messages are escaped as JSON strings", arguments: escapedMessages)
    func errorEscaping(message: String, json: String) throws {
        let frame = ServerMessage.error(ProtocolError(.badRequest, message), id: nil, allocator: allocator)
        #expect(try payload(of: frame) == #"{"type":"error","code":"bad_request","message":\#(json)}"#)
    }

    @Test("JSONText.quoted escapes what RFC 8259 requires", arguments: escapedMessages)
    func quoted(text: String, json: String) {
        #expect(JSONText.quoted(text) == json)
    }

    @Test("JSONText output scans as JSON and decodes back to the original, for every ASCII character")
    func quotedRoundTrip() throws {
        let everyASCII = String(decoding: Array(UInt8(0)..<0x80), as: UTF8.self)
        for text in [everyASCII, everyASCII + "é😀", #"\u0041"#, "\\\"\\"] {
            let quoted = JSONText.quoted(text)
            let span = try scanDocument(quoted)
            #expect(span.count == quoted.utf8.count)
            let decoded = try decodeJSONString(quoted)
            #expect(decoded.map { Array($0.unicodeScalars) } == Array(text.unicodeScalars))
        }
    }

    @Test("JSONText.writeString appends to a buffer")
    func writeStringAppends() {
        var buffer = ByteBuffer(string: "[")
        JSONText.writeString("a\"", into: &buffer)
        buffer.writeString(",")
        JSONText.writeString("\n", into: &buffer)
        buffer.writeString("]")
        #expect(String(buffer: buffer) == #"["a\"","\n"]"#)
    }

    @Test("a decoded unknown-type error renders as valid JSON")
    func unknownTypeErrorRendersAsJSON() throws {
        // A request type full of characters that need escaping ends up inside the message.
        let decoded = DecodedRequest(#"{"type":"a\"b\\c\n\u0001","id":5}"#)
        let error = try #require(decoded.error)
        let id = decoded.text(error.id).map { ByteBuffer(string: $0) }
        let text = try payload(of: ServerMessage.error(error, id: id, allocator: allocator))
        #expect(
            text
                == #"{"type":"error","code":"unknown_type","message":"unknown type \"a\"b\\c\n\u0001\"; expected subscribe, unsubscribe, publish, presence, history, ping or refresh","id":5}"#
        )
    }

    @Test("message carries data verbatim, the sender and the sequence number")
    func message() throws {
        let data = ByteBuffer(string: #"{"x": [1, 2 ,3]}"#)
        let frame = ServerMessage.message(channel: "news", data: data, from: "c9", seq: 42, allocator: allocator)
        #expect(
            try payload(of: frame)
                == #"{"type":"message","channel":"news","data":{"x": [1, 2 ,3]},"from":"c9","seq":42}"#
        )
        #expect(data.readableBytes == 16, "the data buffer is not consumed")
    }

    @Test("message sequence numbers cover the whole UInt64 range")
    func messageSequenceRange() throws {
        let data = ByteBuffer(string: "null")
        #expect(
            try payload(of: ServerMessage.message(channel: "c", data: data, from: "f", seq: 0, allocator: allocator))
                == #"{"type":"message","channel":"c","data":null,"from":"f","seq":0}"#
        )
        #expect(
            try payload(of: ServerMessage.message(channel: "c", data: data, from: "f", seq: .max, allocator: allocator))
                == #"{"type":"message","channel":"c","data":null,"from":"f","seq":18446744073709551615}"#
        )
    }

    @Test("a published request's data and id flow through to the frames unchanged")
    func publishRoundTrip() throws {
        let decoded = DecodedRequest(#"{ "id" : "p1", "type":"publish", "channel":"room/7", "data": { "k" : [ true , null ] } }"#)
        guard case .publish(let channel, let dataSpan)? = decoded.request?.kind, let idSpan = decoded.request?.id else {
            Issue.record("expected a publish with an id, got \(decoded.result)")
            return
        }
        let data = ByteBuffer(bytes: decoded.bytes[dataSpan.start..<dataSpan.end])
        let id = ByteBuffer(bytes: decoded.bytes[idSpan.start..<idSpan.end])
        #expect(
            try payload(of: ServerMessage.message(channel: channel, data: data, from: "c1", seq: 1, allocator: allocator))
                == #"{"type":"message","channel":"room/7","data":{ "k" : [ true , null ] },"from":"c1","seq":1}"#
        )
        #expect(try payload(of: ServerMessage.ack(id: id, allocator: allocator)) == #"{"type":"ack","id":"p1"}"#)
    }

    @Test("large payloads get the extended length headers", arguments: [100, 126, 1000, 65_535, 70_000])
    func largePayloads(dataLength: Int) throws {
        let data = ByteBuffer(string: "\"" + String(repeating: "z", count: dataLength) + "\"")
        let frame = ServerMessage.message(channel: "big", data: data, from: "c", seq: 3, allocator: allocator)
        let expected =
            #"{"type":"message","channel":"big","data":"# + "\"" + String(repeating: "z", count: dataLength) + "\""
            + #","from":"c","seq":3}"#
        #expect(try payload(of: frame) == expected)
        let parsed = try parseFrame(frame)
        #expect(parsed.headerLength == WireFrame.headerSize(payloadLength: expected.utf8.count, masked: false))
    }
}
