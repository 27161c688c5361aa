import Testing

@testable import SwitchboardCore

@Suite struct TraceMessageTests {
    @Test func aLineIsWrittenInTheDocumentedOrderWithoutTheMembersThatDoNotApply() {
        let line = TraceLine(
            time: 1_796_616_723.123456, node: "node-b", kind: .delivery, direction: .out, client: "c1@node-b", user: "ann",
            channel: "news", seq: 42, bytes: 87, mailbox: 3, latencyMicros: 412, data: "{\"price\":10", truncated: true)
        #expect(
            TraceMessage.line(trace: "t3", line).json
                == #"{"type":"trace","trace":"t3","t":"2026-12-07T04:12:03.123456Z","node":"node-b","client":"c1@node-b","user":"ann","dir":"out","kind":"delivery","channel":"news","seq":42,"bytes":87,"mailbox":3,"latency_us":412,"data":"{\"price\":10","truncated":true}"#
        )
        let bare = TraceLine(time: 1_796_616_723, node: "a", kind: .join, channel: "presence-room")
        #expect(
            TraceMessage.line(trace: "t1", bare).json
                == #"{"type":"trace","trace":"t1","t":"2026-12-07T04:12:03.000000Z","node":"a","kind":"join","channel":"presence-room"}"#)
    }

    @Test func everyMessageReadsBackAsItself() throws {
        let messages: [TraceMessage] = [
            .started(trace: "t3", target: .client("c1@node-b")),
            .started(trace: "t4", target: .user("ann \"the\" admin")),
            .started(trace: "t5", target: .channel("news")),
            .line(trace: "t3", TraceLine(time: 1_796_616_723.5, node: "n", kind: .refused, direction: .in, client: "c", code: 4003)),
            .line(trace: "t3", TraceLine(time: 1_796_616_723.25, node: "n", kind: .messagesLost, channel: "x", seq: 7, data: "ü\n")),
            .skipped(trace: "t3", count: 1234),
            .ended(trace: "t3", reason: "reader gone"),
        ]
        for message in messages {
            let read = try #require(TraceMessage(json: Array(message.json.utf8)))
            #expect(read == message)
        }
        #expect(TraceMessage(json: Array(#"{"type":"snapshot"}"#.utf8)) == nil)
        #expect(TraceMessage(json: Array(#"{"type":"trace","trace":"t1","node":"a","kind":"nonsense","t":"2026-12-07T04:12:03Z"}"#.utf8)) == nil)
    }

    @Test func aTargetIsExactlyOneOfClientUserAndChannel() throws {
        #expect(try TraceTarget(query: ["client": "c1@a"]) == .client("c1@a"))
        #expect(try TraceTarget(query: ["user": "ann", "format": "json"]) == .user("ann"))
        #expect(throws: TraceTargetError.notOne) { try TraceTarget(query: [:]) }
        #expect(throws: TraceTargetError.notOne) { try TraceTarget(query: ["client": "a", "channel": "b"]) }
        #expect(throws: TraceTargetError.empty("channel")) { try TraceTarget(query: ["channel": ""]) }
    }

    @Test func truncatedPayloadsAreCutOnACharacterBoundary() {
        let short = Array("{\"a\":1}".utf8)
        #expect(TracePayloads.truncated.cut(short) == ("{\"a\":1}", false))
        #expect(TracePayloads.none.cut(short) == (nil, false))
        // 199 ASCII bytes then a two-byte character: byte 200 is its first half, so the cut
        // keeps 199 bytes rather than half a character.
        let text = Array((String(repeating: "x", count: 199) + "é" + "tail").utf8)
        let (data, truncated) = TracePayloads.truncated.cut(text)
        #expect(truncated)
        #expect(data == String(repeating: "x", count: 199))
        let (whole, cut) = TracePayloads.full.cut(text)
        #expect(!cut && whole?.utf8.count == text.count)
    }
}
