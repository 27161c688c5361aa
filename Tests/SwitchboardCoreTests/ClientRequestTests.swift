import Testing

@testable import SwitchboardCore

@Suite("ClientRequest.decode: request kinds")
struct ClientRequestKindTests {
    @Test("subscribe")
    func subscribe() throws {
        let decoded = DecodedRequest(#"{"type":"subscribe","channel":"news"}"#)
        let request = try #require(decoded.request)
        #expect(request == ClientRequest(kind: .subscribe(channel: "news", presence: false)))
        #expect(request.id == nil)
    }

    /// (presence value, expected flag): only the literal `true` turns presence on.
    static let presenceValues: [(String, Bool)] = [
        ("true", true),
        ("false", false),
        ("null", false),
        (#""true""#, false),
        ("1", false),
        ("{}", false),
        ("[true]", false),
    ]

    @Test("subscribe with a presence flag", arguments: presenceValues)
    func subscribePresence(value: String, expected: Bool) throws {
        let decoded = DecodedRequest(#"{"type":"subscribe","channel":"room.1","presence":\#(value)}"#)
        #expect(decoded.request == ClientRequest(kind: .subscribe(channel: "room.1", presence: expected)))
    }

    @Test("presence is ignored for other request kinds")
    func presenceIgnoredElsewhere() {
        let decoded = DecodedRequest(#"{"type":"unsubscribe","channel":"a","presence":true}"#)
        #expect(decoded.request == ClientRequest(kind: .unsubscribe(channel: "a")))
    }

    @Test("unsubscribe")
    func unsubscribe() {
        let decoded = DecodedRequest(#"{"type":"unsubscribe","channel":"chat:lobby"}"#)
        #expect(decoded.request == ClientRequest(kind: .unsubscribe(channel: "chat:lobby")))
    }

    @Test("ping")
    func ping() {
        #expect(DecodedRequest(#"{"type":"ping"}"#).request == ClientRequest(kind: .ping))
    }

    @Test("ping ignores a channel and data it does not need")
    func pingIgnoresExtras() {
        let decoded = DecodedRequest(#"{"type":"ping","channel":"not a valid name!","data":[1]}"#)
        #expect(decoded.request == ClientRequest(kind: .ping))
    }

    @Test("publish keeps the exact bytes of data, whitespace included")
    func publishExactData() throws {
        let text = #"{"type":"publish","channel":"news","data":{"x": [1, 2 ,3]}}"#
        let decoded = DecodedRequest(text)
        let request = try #require(decoded.request)
        guard case .publish(let channel, let data) = request.kind else {
            Issue.record("expected a publish, got \(request.kind)")
            return
        }
        #expect(channel == "news")
        #expect(decoded.text(data) == #"{"x": [1, 2 ,3]}"#)
        // The span is an offset into the original frame.
        let start = try #require(text.utf8.firstIndex(of: UInt8(ascii: "{"), after: 1))
        #expect(data.start == start)
        #expect(data.end == text.utf8.count - 1)
    }

    /// Every kind of JSON value is a valid `data`, forwarded as written.
    static let dataValues: [String] = [
        "null",
        "true",
        "false",
        "0",
        "-12.5e-3",
        #""hello""#,
        #""esc \"quoted\" \u00e9 \n""#,
        "\"raw é 😀\"",
        "[]",
        "{}",
        "[ 1 ,\n\t2 ]",
        #"{"type":"ping","channel":"other","data":null,"id":{}}"#,
        #"{ "nested" : { "deep" : [ [ [ ] ] ] } }"#,
    ]

    @Test("publish accepts any JSON value as data", arguments: dataValues)
    func publishAnyData(value: String) {
        let decoded = DecodedRequest(#"{"type":"publish","channel":"c","data":\#(value)}"#)
        #expect(decoded.publishedData == value)
        if case .publish(let channel, _)? = decoded.request?.kind {
            #expect(channel == "c")
        }
    }

    @Test("field order does not matter, and whitespace around members is skipped")
    func fieldOrderAndWhitespace() {
        let decoded = DecodedRequest(" \n { \"data\" :  [ 1 ]  , \"id\" : 5 ,\t\"channel\" : \"c\" , \"type\" : \"publish\" } \r\n")
        #expect(decoded.publishedData == "[ 1 ]")
        #expect(decoded.text(decoded.request?.id) == "5")
    }

    @Test("keys inside data do not leak into the request")
    func nestedKeysDoNotLeak() {
        let decoded = DecodedRequest(#"{"type":"publish","channel":"a","data":{"type":"ping","channel":"b","id":{}}}"#)
        guard case .publish(let channel, _)? = decoded.request?.kind else {
            Issue.record("expected a publish, got \(decoded.result)")
            return
        }
        #expect(channel == "a")
        #expect(decoded.request?.id == nil)
    }

    @Test("unknown fields are ignored, whatever their value")
    func unknownFieldsIgnored() {
        let decoded = DecodedRequest(
            #"{"extra":{"deep":[1,2,{"x":null}]},"typeX":1,"Type":"nope","presence_":true,"channels":[],"identifier":{},"type":"ping"}"#
        )
        #expect(decoded.request == ClientRequest(kind: .ping))
    }

    @Test("keys with escapes are decoded before matching")
    func escapedKeys() {
        let decoded = DecodedRequest(
            #"{"\u0074ype":"publish","ch\u0061nnel":"news","d\u0061ta":[1],"\u0069d":"x","pr\u0065sence":true}"#
        )
        #expect(decoded.publishedData == "[1]")
        #expect(decoded.text(decoded.request?.id) == #""x""#)
        let subscribe = DecodedRequest(#"{"typ\u0065":"subscribe","channel":"a","pres\u0065nce":true}"#)
        #expect(subscribe.request == ClientRequest(kind: .subscribe(channel: "a", presence: true)))
    }

    @Test("keys that only look like known keys are ignored")
    func nearMissKeys() {
        // An escape that decodes to something else, a key with a lone surrogate, a longer key.
        let decoded = DecodedRequest(#"{"typ\u0065s":"ping","\ud800":"x","type\u0000":"x","type":"ping"}"#)
        #expect(decoded.request == ClientRequest(kind: .ping))
        // Only the near-miss keys: no type at all.
        #expect(DecodedRequest(#"{"typ\u0065s":"ping","\ud800":1}"#).error?.code == .badRequest)
    }

    @Test("type names may be escaped")
    func escapedTypeName() {
        #expect(DecodedRequest(#"{"type":"p\u0069ng"}"#).request == ClientRequest(kind: .ping))
        #expect(
            DecodedRequest(#"{"type":"\u0073ubscribe","channel":"x"}"#).request
                == ClientRequest(kind: .subscribe(channel: "x", presence: false))
        )
    }
}

@Suite("ClientRequest.decode: ids")
struct ClientRequestIDTests {
    /// Valid ids are kept as raw JSON spans: strings with their quotes, numbers as written.
    static let validIDs: [String] = [
        #""abc""#,
        #""""#,
        #""with \"escapes\" \u00e9""#,
        "\"é😀\"",
        "0",
        "42",
        "-1",
        "-1.5e3",
        "12345678901234567890123",
    ]

    @Test("string and number ids are kept as the exact raw span", arguments: validIDs)
    func validID(id: String) {
        let decoded = DecodedRequest(#"{"type":"ping","id":\#(id)}"#)
        #expect(decoded.text(decoded.request?.id) == id)
    }

    @Test("an id is kept for every request kind")
    func idOnEveryKind() {
        let texts = [
            #"{"type":"subscribe","channel":"a","id":1}"#,
            #"{"id":1,"type":"unsubscribe","channel":"a"}"#,
            #"{"type":"publish","id":1,"channel":"a","data":2}"#,
            #"{"type":"ping","id":1}"#,
        ]
        for text in texts {
            let decoded = DecodedRequest(text)
            #expect(decoded.text(decoded.request?.id) == "1", "\(text)")
        }
    }

    @Test("the id span points into the frame")
    func idSpanOffsets() {
        let decoded = DecodedRequest(#"{"id": "r-1" ,"type":"ping"}"#)
        #expect(decoded.request?.id == JSONScanner.Span(start: 7, end: 12))
    }

    static let invalidIDs: [String] = ["{}", #"{"a":1}"#, "[]", "[1]", "true", "false", "null"]

    @Test("an id that is neither a string nor a number is refused", arguments: invalidIDs)
    func invalidID(id: String) throws {
        let decoded = DecodedRequest(#"{"type":"ping","id":\#(id)}"#)
        let error = try #require(decoded.error)
        #expect(error.code == .invalidID)
        #expect(error.message == #""id" must be a string or a number"#)
        #expect(error.id == nil)
    }

    @Test("an invalid id is reported before any other request problem")
    func invalidIDFirst() {
        #expect(DecodedRequest(#"{"id":{}}"#).error?.code == .invalidID)
        #expect(DecodedRequest(#"{"type":"nope","id":null}"#).error?.code == .invalidID)
        #expect(DecodedRequest(#"{"type":"publish","id":true}"#).error?.code == .invalidID)
        #expect(DecodedRequest(#"{"type":7,"id":[]}"#).error?.code == .invalidID)
    }

    @Test("an invalid id does not hide a syntax error")
    func syntaxErrorBeatsInvalidID() {
        #expect(DecodedRequest(#"{"id":{},"type":"ping""#).error?.code == .badJSON)
    }
}

@Suite("ClientRequest.decode: errors")
struct ClientRequestErrorTests {
    static let badJSONCases: [(String, String)] = [
        ("", "empty message at byte 0"),
        ("   ", "empty message at byte 3"),
        ("[", "expected a JSON object at byte 0"),
        ("x{}", "expected a JSON object at byte 0"),
        (#"{"type":"ping""#, "expected ',' or '}' at byte 14"),
        (#"{"type":"ping"} x"#, "unexpected bytes after the object at byte 16"),
        (#"{"type":"ping",}"#, "expected a string key at byte 15"),
        (#"{"type":'ping'}"#, "unexpected character at byte 8"),
        (#"{"type":"ping","data":01}"#, "expected ',' or '}' at byte 23"),
        ("{\"type\":\"pi\tng\"}", "control character in string at byte 11"),
        (#"{"type":"ping\x"}"#, "bad escape at byte 14"),
    ]

    @Test("malformed JSON is bad_json with the scanner's reason", arguments: badJSONCases)
    func badJSON(text: String, detail: String) throws {
        let error = try #require(DecodedRequest(text).error)
        #expect(error.code == .badJSON)
        #expect(error.message == "message is not valid JSON: \(detail)")
        #expect(error.id == nil)
    }

    @Test("valid JSON that is not an object is bad_request", arguments: ["[]", "[1,2]", #""ping""#, "42", "null", "true"])
    func validButNotAnObject(text: String) throws {
        let error = try #require(DecodedRequest(text).error)
        #expect(error.code == .badRequest)
        #expect(error.message == "a request must be a JSON object")
    }

    @Test("nesting deeper than the limit is bad_json")
    func tooDeep() throws {
        let ok =
            #"{"type":"publish","channel":"c","data":"# + String(repeating: "[", count: 63)
            + String(repeating: "]", count: 63) + "}"
        #expect(DecodedRequest(ok).publishedData?.utf8.count == 126)

        let deep =
            #"{"type":"publish","channel":"c","data":"# + String(repeating: "[", count: 100)
            + String(repeating: "]", count: 100) + "}"
        let error = try #require(DecodedRequest(deep).error)
        #expect(error.code == .badJSON)
        #expect(error.message.contains("nesting deeper than 64 levels"))
    }

    @Test("the nesting limit is configurable")
    func customDepth() throws {
        let shallow = #"{"type":"publish","channel":"c","data":[1]}"#
        #expect(DecodedRequest(shallow, maxDepth: 2).publishedData == "[1]")
        let deeper = #"{"type":"publish","channel":"c","data":[[1]]}"#
        let error = try #require(DecodedRequest(deeper, maxDepth: 2).error)
        #expect(error.code == .badJSON)
        #expect(error.message == "message is not valid JSON: nesting deeper than 2 levels at byte 40")
    }

    @Test("a request without type is bad_request", arguments: ["{}", #"{"channel":"a"}"#, #"{"data":1,"id":"x"}"#])
    func missingType(text: String) throws {
        let decoded = DecodedRequest(text)
        let error = try #require(decoded.error)
        #expect(error.code == .badRequest)
        #expect(error.message == #"missing "type""#)
        #expect(decoded.text(error.id) == (text.contains(#""id""#) ? #""x""# : nil))
    }

    @Test(
        "a type that is not a string is bad_request",
        arguments: ["1", "null", "true", "false", "{}", #"{"type":"ping"}"#, #"["ping"]"#, "-3"]
    )
    func nonStringType(value: String) throws {
        let decoded = DecodedRequest(#"{"type":\#(value),"id":9}"#)
        let error = try #require(decoded.error)
        #expect(error.code == .badRequest)
        #expect(error.message == #""type" must be a string"#)
        #expect(decoded.text(error.id) == "9")
    }

    @Test("a type holding a lone surrogate is bad_request")
    func loneSurrogateType() {
        let error = DecodedRequest(#"{"type":"\ud800"}"#).error
        #expect(error?.code == .badRequest)
        #expect(error?.message == #""type" must be a string"#)
    }

    @Test("unknown types are unknown_type and keep the id", arguments: ["shout", "Ping", "PING", "", "ping ", "sub", "subscribe2", "pong"])
    func unknownType(type: String) throws {
        let decoded = DecodedRequest(#"{"type":"\#(type)","id":"q"}"#)
        let error = try #require(decoded.error)
        #expect(error.code == .unknownType)
        #expect(error.message == #"unknown type "\#(type)"; expected subscribe, unsubscribe, publish, presence, history, ping or refresh"#)
        #expect(decoded.text(error.id) == #""q""#)
    }

    @Test("a long unknown type is cut to 32 characters in the message")
    func longUnknownType() throws {
        let long = String(repeating: "abcdefghij", count: 5)  // 50 characters
        let error = try #require(DecodedRequest(#"{"type":"\#(long)"}"#).error)
        #expect(error.code == .unknownType)
        #expect(
            error.message == #"unknown type "\#(long.prefix(32))…"; expected subscribe, unsubscribe, publish, presence, history, ping or refresh"#)

        let exactly32 = String(repeating: "x", count: 32)
        let error32 = try #require(DecodedRequest(#"{"type":"\#(exactly32)"}"#).error)
        #expect(error32.message.contains(#""\#(exactly32)";"#))
        #expect(!error32.message.contains("…"))
    }

    @Test("the unknown type in the message is the decoded name")
    func unknownTypeDecoded() throws {
        let error = try #require(DecodedRequest(#"{"type":"a\"b\u00e9"}"#).error)
        #expect(error.code == .unknownType)
        #expect(error.message.hasPrefix("unknown type \"a\"bé\";"))
    }

    @Test("channel requests without a channel are missing_channel", arguments: ["subscribe", "unsubscribe", "publish"])
    func missingChannel(type: String) throws {
        let decoded = DecodedRequest(#"{"type":"\#(type)","id":3,"data":1}"#)
        let error = try #require(decoded.error)
        #expect(error.code == .missingChannel)
        #expect(error.message == #""\#(type)" needs a "channel""#)
        #expect(decoded.text(error.id) == "3")
    }

    static let invalidChannels: [String] = [
        #""""#,
        #"" ""#,
        #""a b""#,
        #""news ""#,
        #""news\n""#,
        #""new#s""#,
        #""news!""#,
        #""*""#,
        #""n\u00e9""#,
        "\"né\"",
        #""\u0000""#,
        #""\u0020""#,
        #""\ud800""#,
        "\"" + String(repeating: "a", count: 129) + "\"",
        "1",
        "null",
        "true",
        #"["news"]"#,
        #"{"name":"news"}"#,
    ]

    @Test("channels that break the naming rules are invalid_channel", arguments: ["subscribe", "unsubscribe", "publish"])
    func invalidChannel(type: String) throws {
        for channel in Self.invalidChannels {
            let decoded = DecodedRequest(#"{"type":"\#(type)","channel":\#(channel),"data":1,"id":"i"}"#)
            let error = try #require(decoded.error, "channel \(channel)")
            #expect(error.code == .invalidChannel, "channel \(channel)")
            #expect(error.message == "channel names are 1-128 bytes of A-Z a-z 0-9 _ . : @ / -")
            #expect(decoded.text(error.id) == #""i""#)
        }
    }

    static let validChannels: [(String, String)] = [
        (#""a""#, "a"),
        (#""news""#, "news"),
        (#""n\u0065ws""#, "news"),
        (#""\u0041\u005a""#, "AZ"),
        (#""a\/b""#, "a/b"),
        (#""Az09_.:@/-""#, "Az09_.:@/-"),
        ("\"" + String(repeating: "a", count: 128) + "\"", String(repeating: "a", count: 128)),
    ]

    @Test("valid channel names, escaped or not, decode to the name", arguments: validChannels)
    func validChannel(channel: String, name: String) {
        #expect(
            DecodedRequest(#"{"type":"subscribe","channel":\#(channel)}"#).request
                == ClientRequest(kind: .subscribe(channel: name, presence: false))
        )
        #expect(
            DecodedRequest(#"{"type":"unsubscribe","channel":\#(channel)}"#).request
                == ClientRequest(kind: .unsubscribe(channel: name))
        )
    }

    @Test("128 escaped characters that decode to 128 bytes are accepted; 129 are not")
    func escapedLengthCountsDecodedBytes() throws {
        let escaped128 = String(repeating: #"\u0061"#, count: 128)
        #expect(
            DecodedRequest(#"{"type":"unsubscribe","channel":"\#(escaped128)"}"#).request
                == ClientRequest(kind: .unsubscribe(channel: String(repeating: "a", count: 128)))
        )
        let escaped129 = String(repeating: #"\u0061"#, count: 129)
        #expect(DecodedRequest(#"{"type":"unsubscribe","channel":"\#(escaped129)"}"#).error?.code == .invalidChannel)
    }

    @Test("publish without data is missing_data")
    func missingData() throws {
        let decoded = DecodedRequest(#"{"type":"publish","channel":"news","id":"p"}"#)
        let error = try #require(decoded.error)
        #expect(error.code == .missingData)
        #expect(error.message == #""publish" needs a "data" value"#)
        #expect(decoded.text(error.id) == #""p""#)
    }

    @Test("the channel is checked before the data")
    func channelBeforeData() {
        #expect(DecodedRequest(#"{"type":"publish"}"#).error?.code == .missingChannel)
        #expect(DecodedRequest(#"{"type":"publish","channel":"bad name"}"#).error?.code == .invalidChannel)
    }

    @Test("errors without an id in the request carry none")
    func errorsWithoutID() {
        let texts = [#"{"type":"nope"}"#, #"{"type":"subscribe"}"#, #"{"type":"publish","channel":"c"}"#, #"{"type":1}"#, "{}"]
        for text in texts {
            let error = DecodedRequest(text).error
            #expect(error != nil, "\(text)")
            #expect(error?.id == nil, "\(text)")
        }
    }
}

@Suite("ClientRequest.decode: duplicate keys")
struct ClientRequestDuplicateKeyTests {
    // The decoder keeps the last occurrence of each known key.

    @Test("the last type wins")
    func lastTypeWins() {
        #expect(DecodedRequest(#"{"type":"subscribe","type":"ping"}"#).request == ClientRequest(kind: .ping))
        #expect(DecodedRequest(#"{"type":1,"type":"ping"}"#).request == ClientRequest(kind: .ping))
        #expect(DecodedRequest(#"{"type":"ping","type":1}"#).error?.code == .badRequest)
        #expect(DecodedRequest(#"{"type":"ping","type":"nope"}"#).error?.code == .unknownType)
    }

    @Test("the last channel wins")
    func lastChannelWins() {
        #expect(
            DecodedRequest(#"{"channel":"a","type":"unsubscribe","channel":"b"}"#).request
                == ClientRequest(kind: .unsubscribe(channel: "b"))
        )
        #expect(DecodedRequest(#"{"channel":"a","type":"unsubscribe","channel":"b c"}"#).error?.code == .invalidChannel)
        #expect(
            DecodedRequest(#"{"channel":"b c","type":"unsubscribe","channel":"b"}"#).request
                == ClientRequest(kind: .unsubscribe(channel: "b"))
        )
    }

    @Test("the last data wins")
    func lastDataWins() {
        #expect(DecodedRequest(#"{"type":"publish","channel":"c","data":1,"data":[2]}"#).publishedData == "[2]")
    }

    @Test("the last id wins, and decides whether the id is valid")
    func lastIDWins() {
        let valid = DecodedRequest(#"{"type":"ping","id":{},"id":"ok"}"#)
        #expect(valid.text(valid.request?.id) == #""ok""#)
        #expect(DecodedRequest(#"{"type":"ping","id":"ok","id":{}}"#).error?.code == .invalidID)
        let numbers = DecodedRequest(#"{"type":"ping","id":1,"id":2}"#)
        #expect(numbers.text(numbers.request?.id) == "2")
    }

    @Test("the last presence wins")
    func lastPresenceWins() {
        #expect(
            DecodedRequest(#"{"type":"subscribe","channel":"c","presence":true,"presence":false}"#).request
                == ClientRequest(kind: .subscribe(channel: "c", presence: false))
        )
        #expect(
            DecodedRequest(#"{"type":"subscribe","channel":"c","presence":false,"presence":true}"#).request
                == ClientRequest(kind: .subscribe(channel: "c", presence: true))
        )
    }

    @Test("an escaped duplicate counts as the same key")
    func escapedDuplicate() {
        #expect(DecodedRequest(#"{"type":"nope","t\u0079pe":"ping"}"#).request == ClientRequest(kind: .ping))
    }
}

@Suite("ProtocolError")
struct ProtocolErrorTests {
    @Test("error codes render as the protocol's fixed slugs")
    func codeSlugs() {
        let slugs: [ProtocolError.Code: String] = [
            .badJSON: "bad_json",
            .badRequest: "bad_request",
            .unknownType: "unknown_type",
            .missingChannel: "missing_channel",
            .invalidChannel: "invalid_channel",
            .missingData: "missing_data",
            .invalidID: "invalid_id",
            .notSubscribed: "not_subscribed",
            .tooManyChannels: "too_many_channels",
            .rateLimited: "rate_limited",
            .overloaded: "overloaded",
            .forbidden: "forbidden",
            .presenceFull: "presence_full",
            .unavailable: "unavailable",
            .messagesLost: "messages_lost",
            .noHistory: "no_history",
            .unrecoverable: "unrecoverable",
            .invalidToken: "invalid_token",
        ]
        #expect(ProtocolError.Code.allCases.count == slugs.count)
        for code in ProtocolError.Code.allCases {
            #expect(code.rawValue == slugs[code], "\(code)")
            #expect(ProtocolError.Code(rawValue: code.rawValue) == code)
        }
        #expect(ProtocolError.Code(rawValue: "badJSON") == nil)
    }

    @Test("errors compare by code, message and id")
    func equality() {
        let span = JSONScanner.Span(start: 1, end: 2)
        #expect(ProtocolError(.rateLimited, "slow down") == ProtocolError(.rateLimited, "slow down"))
        #expect(ProtocolError(.rateLimited, "slow down") != ProtocolError(.overloaded, "slow down"))
        #expect(ProtocolError(.rateLimited, "slow down") != ProtocolError(.rateLimited, "slow"))
        #expect(ProtocolError(.rateLimited, "x", id: span) != ProtocolError(.rateLimited, "x"))
        #expect(ProtocolError(.rateLimited, "x", id: span).id == span)
    }

    @Test("requests compare by kind and id")
    func requestEquality() {
        let span = JSONScanner.Span(start: 0, end: 3)
        #expect(ClientRequest(kind: .ping) != ClientRequest(kind: .ping, id: span))
        #expect(
            ClientRequest(kind: .subscribe(channel: "a", presence: true))
                != ClientRequest(kind: .subscribe(channel: "a", presence: false))
        )
        #expect(
            ClientRequest(kind: .publish(channel: "a", data: span))
                != ClientRequest(kind: .publish(channel: "a", data: JSONScanner.Span(start: 0, end: 4)))
        )
    }
}

extension String.UTF8View {
    /// The index (as an offset) of the first `byte` at or after offset `after`.
    fileprivate func firstIndex(of byte: UInt8, after: Int) -> Int? {
        let bytes = Array(self)
        return bytes.indices.first { $0 >= after && bytes[$0] == byte }
    }
}

@Suite("ClientRequest.decode: history and resuming")
struct ClientRequestHistoryTests {
    @Test func subscribeWithSince() throws {
        let decoded = DecodedRequest(#"{"type":"subscribe","channel":"news","since":{"seq":41,"epoch":"x7Kp"}}"#)
        let request = try #require(decoded.request)
        #expect(request.kind == .subscribe(channel: "news", presence: false))
        #expect(request.since == StreamPosition(seq: 41, epoch: "x7Kp"))
    }

    @Test func historyWithSinceAndLimit() throws {
        let decoded = DecodedRequest(#"{"type":"history","channel":"news","since":{"epoch":"e","seq":0},"limit":20,"id":3}"#)
        let request = try #require(decoded.request)
        #expect(request.kind == .history(channel: "news"))
        #expect(request.since == StreamPosition(seq: 0, epoch: "e"))
        #expect(request.limit == 20)
        #expect(decoded.text(request.id) == "3")
    }

    @Test(arguments: [
        #"{"type":"subscribe","channel":"news","since":41}"#, #"{"type":"subscribe","channel":"news","since":{"seq":41}}"#,
        #"{"type":"subscribe","channel":"news","since":{"seq":-1,"epoch":"e"}}"#,
        #"{"type":"subscribe","channel":"news","since":{"seq":"4","epoch":"e"}}"#, #"{"type":"history","channel":"news","limit":0}"#,
        #"{"type":"history","channel":"news","limit":2.5}"#,
    ])
    func badPositionsAndLimitsAreBadRequests(text: String) {
        #expect(DecodedRequest(text).error?.code == .badRequest)
    }

    @Test func historyNeedsAChannel() {
        #expect(DecodedRequest(#"{"type":"history"}"#).error?.code == .missingChannel)
    }
}
