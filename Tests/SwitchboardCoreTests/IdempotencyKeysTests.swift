import Testing

@testable import SwitchboardCore

@Suite struct IdempotencyKeysTests {
    let second: UInt64 = 1_000_000_000

    @Test func aKeyIsRememberedPerChannelForItsTimeToLive() {
        var keys = IdempotencyKeys(ttl: 300 * second)
        #expect(keys.seq(of: "k1", channel: "news", now: 0) == nil)
        keys.remember("k1", channel: "news", seq: 41, now: 0)
        #expect(keys.seq(of: "k1", channel: "news", now: 299 * second) == 41)
        #expect(keys.seq(of: "k1", channel: "chat", now: 299 * second) == nil)
        #expect(keys.seq(of: "k1", channel: "news", now: 300 * second) == nil)
        #expect(keys.count == 0)
    }

    @Test func rememberingAKeyAgainKeepsTheFirstSeq() {
        var keys = IdempotencyKeys(ttl: 10 * second)
        keys.remember("k", channel: "news", seq: 1, now: 0)
        keys.remember("k", channel: "news", seq: 9, now: 5 * second)
        #expect(keys.seq(of: "k", channel: "news", now: 6 * second) == 1)
        #expect(keys.count == 1)
    }

    @Test func beyondCapacityTheOldestKeysAreForgottenFirst() {
        var keys = IdempotencyKeys(ttl: 300 * second, capacity: 3)
        for n in 1...5 { keys.remember("k\(n)", channel: "news", seq: UInt64(n), now: UInt64(n)) }
        #expect(keys.count == 3)
        #expect(keys.seq(of: "k1", channel: "news", now: 10) == nil)
        #expect(keys.seq(of: "k2", channel: "news", now: 10) == nil)
        #expect(keys.seq(of: "k5", channel: "news", now: 10) == 5)
    }

    @Test func aKeyIsOneTo255Bytes() {
        #expect(IdempotencyKeys.isValid("a"))
        #expect(IdempotencyKeys.isValid(String(repeating: "é", count: 127)))
        #expect(!IdempotencyKeys.isValid(""))
        #expect(!IdempotencyKeys.isValid(String(repeating: "x", count: 256)))
    }

    @Test func aPublishCarriesItsKeyAndABadKeyIsABadRequest() {
        let keyed = DecodedRequest(#"{"type":"publish","channel":"news","data":1,"idempotency_key":"order-\u0031","id":3}"#)
        #expect(keyed.request?.idempotencyKey == "order-1")
        #expect(DecodedRequest(#"{"type":"publish","channel":"news","data":1}"#).request?.idempotencyKey == nil)
        for bad in [#""idempotency_key":"""#, #""idempotency_key":7"#, "\"idempotency_key\":\"\(String(repeating: "x", count: 256))\""] {
            let decoded = DecodedRequest(#"{"type":"publish","channel":"news","data":1,\#(bad),"id":3}"#)
            #expect(decoded.error?.code == .badRequest)
            #expect(decoded.error?.message == IdempotencyKeys.rule)
        }
    }

    @Test func anOperatorPublishCarriesItsKeyOnTheWire() throws {
        let object = try JSONObject(parsing: Array(#"{"channel":"news","data":{"a":1},"idempotency_key":"k-1"}"#.utf8))
        let command = try OperatorCommand(type: "publish", object, publishFrom: "api")
        #expect(command == .publish(channel: "news", data: Array(#"{"a":1}"#.utf8), from: "api", idempotencyKey: "k-1"))
        #expect(command.wireJSON() == #"{"type":"publish","channel":"news","data":{"a":1},"idempotency_key":"k-1"}"#)
        let bad = try JSONObject(parsing: Array(#"{"channel":"news","data":1,"idempotency_key":""}"#.utf8))
        #expect(throws: OperatorFailure(.badRequest, IdempotencyKeys.rule)) { try OperatorCommand(type: "publish", bad) }
        let duplicate = OperatorResult.published(channel: "news", seq: 4, reached: 0, duplicate: true)
        #expect(duplicate.jsonMembers == #""channel":"news","seq":4,"reached":0,"duplicate":true"#)
        #expect(OperatorResult(result: try JSONObject(parsing: Array(("{\"ok\":true," + duplicate.jsonMembers + "}").utf8))) == duplicate)
    }
}
