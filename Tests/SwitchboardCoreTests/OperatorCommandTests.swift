import SwitchboardCore
import Testing

@Suite struct OperatorCommandTests {
    private func parse(_ type: String, _ json: String, from: String = "operator") throws(OperatorFailure) -> OperatorCommand {
        try OperatorCommand(type: type, try! JSONObject(parsing: Array(json.utf8)), publishFrom: from)
    }

    private func failure(_ type: String, _ json: String) -> OperatorFailure? {
        do {
            _ = try parse(type, json)
            return nil
        } catch {
            return error
        }
    }

    @Test func broadcastKeepsTheDataBytesExactly() throws {
        #expect(try parse("broadcast", #"{"data":1.50}"#) == .broadcast(data: Array("1.50".utf8)))
        #expect(
            try parse("broadcast", #"{"data":{"a":[1, 2]},"channel":"news"}"#)
                == .publish(channel: "news", data: Array(#"{"a":[1, 2]}"#.utf8), from: "operator"))
        #expect(
            try parse("publish", #"{"channel":"news","data":"x"}"#, from: "api") == .publish(channel: "news", data: Array(#""x""#.utf8), from: "api"))
    }

    @Test func kicksTakeTheDefaultReasonOnce() throws {
        #expect(try parse("kick", #"{"client":"c1"}"#) == .kick(.client("c1"), reason: "kicked by operator", reconnect: false))
        #expect(try parse("kick", #"{"all":true,"reconnect":true}"#) == .kick(.all, reason: "reconnect", reconnect: true))
        #expect(try parse("kick", #"{"channel":"news","reason":"bye"}"#) == .kick(.channel("news"), reason: "bye", reconnect: false))
    }

    @Test func badCommandsSayWhatIsMissing() {
        #expect(failure("broadcast", #"{"channel":"news"}"#)?.code == .missingData)
        #expect(failure("publish", #"{"channel":"no spaces","data":1}"#)?.code == .invalidChannel)
        #expect(failure("kick", #"{"reason":"x"}"#)?.code == .badRequest)
        #expect(failure("kick", #"{"channel":""}"#)?.code == .invalidChannel)
        #expect(failure("reboot", "{}")?.code == .unknownCommand)
    }

    @Test func theWireFormReadsBackAsTheSameCommand() throws {
        let commands: [OperatorCommand] = [
            .broadcast(data: Array(#"{"notice":"at 5"}"#.utf8)),
            .publish(channel: "news", data: Array("[1,2]".utf8), from: "operator"),
            .kick(.client("c9"), reason: "spam \"quoted\"", reconnect: false),
            .kick(.channel("room"), reason: "reconnect", reconnect: true),
            .kick(.all),
        ]
        for command in commands {
            let wire = command.wireJSON(id: "7")
            let object = try JSONObject(parsing: Array(wire.utf8))
            #expect(object.int("id") == 7)
            #expect(try OperatorCommand(type: object.string("type")!, object) == command, "\(wire)")
        }
    }

    @Test func resultsReadBackFromTheStreamsReply() throws {
        let results: [OperatorResult] = [
            .broadcast(reached: 3), .published(channel: "news", seq: 41, reached: 2), .kicked(5),
            .failed(OperatorFailure(.notFound, "no client c1")), .broadcast(reached: 7, missing: ["node-b", "a \"quoted\" name"]),
            .kicked(2, missing: ["node-c"]),
        ]
        for result in results {
            let ok = if case .failed = result { false } else { true }
            let reply = "{\"type\":\"result\",\"ok\":\(ok),\"id\":1," + result.jsonMembers + "}"
            #expect(OperatorResult(result: try JSONObject(parsing: Array(reply.utf8))) == result, "\(reply)")
        }
    }

    @Test func aPartialResultSaysWhichNodesDidNotAnswer() {
        #expect(OperatorResult.kicked(2, missing: ["node-c"]).jsonMembers == #""kicked":2,"partial":true,"missing":["node-c"]"#)
        #expect(OperatorResult.broadcast(reached: 1).jsonMembers == #""reached":1"#)
        #expect(
            OperatorResult.broadcast(reached: 4, missing: ["node-b", "node-c"]).summary(of: .broadcast(data: [0x31]))
                == "broadcast: reached 4 clients (no answer from node-b, node-c: not known there)")
    }

    @Test func summariesSayWhatHappened() {
        let kick = OperatorCommand.kick(.client("c1"))
        #expect(OperatorResult.kicked(1).summary(of: kick) == "kicked c1 (4000 kicked by operator)")
        #expect(OperatorResult.failed(OperatorFailure(.notFound, "no client c1")).summary(of: kick) == "error: no client c1")
        #expect(OperatorResult.kicked(4).summary(of: .kick(.all, reconnect: true)) == "kicked 4 clients")
        let toChannel = OperatorCommand.publish(channel: "news", data: [0x31], from: "operator")
        #expect(OperatorResult.published(channel: "news", seq: 1, reached: 2).summary(of: toChannel) == "broadcast to #news: reached 2 subscribers")
        #expect(OperatorResult.broadcast(reached: 9).summary(of: .broadcast(data: [0x31])) == "broadcast: reached 9 clients")
    }
}
