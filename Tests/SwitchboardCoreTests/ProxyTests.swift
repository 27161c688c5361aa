import Testing

@testable import SwitchboardCore

@Suite("Proxy signature")
struct ProxySignatureTests {
    /// Computed independently with Python's hmac module (the README's verification code).
    @Test("t=<time>,v1=hex HMAC-SHA256(secret, \"<time>.<body>\")")
    func referenceValue() {
        let body = Array(#"{"client":"c1","user":"ann","channel":"chat:1"}"#.utf8)
        #expect(
            ProxySignature.value(secret: "proxy-secret-0123456789", time: 1_800_000_000, body: body)
                == "t=1800000000,v1=4591117c2ce03617a9c427d28feea870845fdaf1ae8e74439de53d32a2ea5438")
        #expect(
            ProxySignature.value(secret: "k", time: 5, body: [UInt8]())
                == "t=5,v1=515a3031824b00e34efe5c1eaad1d027d66f4eb5e5ae600163ea15eed4a59f3b")
    }

    @Test("another time, body or secret gives another signature")
    func sensitivity() {
        let body = Array("{}".utf8)
        let base = ProxySignature.value(secret: "secret-one-0123456", time: 10, body: body)
        #expect(ProxySignature.value(secret: "secret-two-0123456", time: 10, body: body) != base)
        #expect(ProxySignature.value(secret: "secret-one-0123456", time: 11, body: body) != base)
        #expect(ProxySignature.value(secret: "secret-one-0123456", time: 10, body: Array("{ }".utf8)) != base)
    }
}

/// The breaker takes monotonic nanoseconds, so these tests drive it with made-up instants.
@Suite("Circuit breaker")
struct CircuitBreakerTests {
    static let second: UInt64 = 1_000_000_000

    /// A breaker that opens after 5 failures and cools down for 5 s, failed `count` times at `now`.
    static func failed(_ count: Int, at now: UInt64 = 0) -> CircuitBreaker {
        var breaker = CircuitBreaker(failureThreshold: 5, cooldown: .seconds(5))
        for _ in 0..<count {
            let admission = breaker.admit(now: now)
            _ = breaker.failed(admission, now: now)
        }
        return breaker
    }

    @Test("closed: failures below the threshold let requests through; a success resets the count")
    func closedCounts() {
        var breaker = Self.failed(4)
        #expect(breaker.state == .closed(failures: 4))
        #expect(breaker.admit(now: 0) == .pass)
        #expect(breaker.succeeded(.pass) == nil)
        #expect(breaker.state == .closed(failures: 0))
        breaker = Self.failed(4)
        #expect(breaker.failed(.pass, now: 7) == .opened)
        #expect(breaker.state == .open(until: 7 + 5 * Self.second))
    }

    @Test("open: refuses at once until the cooldown is over, then lets exactly one probe through")
    func openThenProbe() {
        var breaker = Self.failed(5)
        #expect(breaker.refuses(now: 0))
        #expect(breaker.admit(now: 5 * Self.second - 1) == .refuse)
        #expect(!breaker.refuses(now: 5 * Self.second))
        #expect(breaker.admit(now: 5 * Self.second) == .probe)
        #expect(breaker.state == .probing)
        #expect(breaker.refuses(now: 6 * Self.second))
        #expect(breaker.admit(now: 6 * Self.second) == .refuse)
    }

    @Test("the probe's success closes the breaker; its failure opens it for another cooldown")
    func probeOutcome() {
        var closing = Self.failed(5)
        let probe = closing.admit(now: 5 * Self.second)
        #expect(closing.succeeded(probe) == .closed)
        #expect(closing.state == .closed(failures: 0))
        #expect(closing.admit(now: 5 * Self.second) == .pass)

        var reopening = Self.failed(5)
        let again = reopening.admit(now: 5 * Self.second)
        #expect(reopening.failed(again, now: 6 * Self.second) == .opened)
        #expect(reopening.state == .open(until: 11 * Self.second))
        #expect(reopening.admit(now: 10 * Self.second) == .refuse)
        #expect(reopening.admit(now: 11 * Self.second) == .probe)
    }

    @Test("late outcomes of requests sent before the breaker opened change nothing")
    func lateOutcomes() {
        var breaker = Self.failed(5)
        #expect(breaker.succeeded(.pass) == nil)
        #expect(breaker.failed(.pass, now: 1) == nil)
        #expect(breaker.state == .open(until: 5 * Self.second))
        _ = breaker.admit(now: 5 * Self.second)
        #expect(breaker.succeeded(.pass) == nil)
        #expect(breaker.state == .probing)
    }
}

@Suite("Proxy gate")
struct ProxyGateTests {
    @Test("up to the limit proceed, then up to the queue's bound wait, then overloaded")
    func bounds() {
        var gate = ProxyGate(limit: 2, queueLimit: 1)
        #expect(gate.enter(1) == .proceed)
        #expect(gate.enter(2) == .proceed)
        #expect(gate.enter(3) == .wait)
        #expect(gate.enter(4) == .overloaded)
        #expect(gate.leave() == 3)
        #expect(gate.inFlight == 2)
        #expect(gate.leave() == nil)
        #expect(gate.inFlight == 1)
    }

    @Test("a waiter that gives up leaves the queue; one already handed a slot cannot")
    func withdraw() {
        var gate = ProxyGate(limit: 1, queueLimit: 2)
        #expect(gate.enter(1) == .proceed)
        #expect(gate.enter(2) == .wait)
        #expect(gate.enter(3) == .wait)
        let withdrawn = gate.withdraw(2)
        #expect(withdrawn)
        #expect(gate.leave() == 3)
        let withdrawnLate = gate.withdraw(3)
        #expect(!withdrawnLate)
        #expect(gate.queued == 0)
    }
}

@Suite("Proxy answers")
struct ProxyAnswerTests {
    struct NotAResult: Error {
        let answer: ProxyAnswer
    }

    static func answer(_ text: String) throws -> ProxyAnswer {
        try ProxyAnswer(parsing: Array(text.utf8))
    }

    /// The `result` of the answer `text`.
    static func result(_ text: String) throws -> ProxyResult {
        let answer = try answer(text)
        guard case .result(let result) = answer else { throw NotAResult(answer: answer) }
        return result
    }

    @Test("a connect result: user, info, channels and expire_at")
    func connectResult() throws {
        let result = try Self.result(#"{"result":{"user":"ann","info":{"name":"Ann"},"channels":["user:ann"],"expire_at":1800000000}}"#)
        let grant = try result.connectGrant()
        #expect(grant == ConnectGrant(user: "ann", info: Array(#"{"name":"Ann"}"#.utf8), channels: ["user:ann"], expireAt: 1_800_000_000))
        #expect(try Self.result(#"{"result":{"user":""}}"#).connectGrant() == ConnectGrant(user: ""))
    }

    @Test("errors and disconnects keep the backend's code and text")
    func refusals() throws {
        #expect(
            try Self.answer(#"{"error":{"code":"not_a_member","message":"join the team first"}}"#)
                == .error(code: "not_a_member", message: "join the team first"))
        #expect(try Self.answer(#"{"disconnect":{"code":4403,"reason":"banned"}}"#) == .disconnect(code: 4403, reason: "banned"))
    }

    @Test("publish results may replace the data; refresh results need expire_at")
    func publishAndRefresh() throws {
        #expect(try Self.result(#"{"result":{"data":{"text":"***"}}}"#).replacementData == Array(#"{"text":"***"}"#.utf8))
        let empty = try Self.result(#"{"result":{}}"#)
        #expect(empty.replacementData == nil)
        #expect(throws: ProxyAnswer.Malformed.self) { try empty.refreshedExpiry() }
        #expect(try Self.result(#"{"result":{"expire_at":1800000600}}"#).refreshedExpiry() == 1_800_000_600)
    }

    @Test(
        "answers that are none of result, error, disconnect are malformed",
        arguments: [
            "", "[]", #"{"ok":true}"#, #"{"result":1}"#, #"{"error":{"message":"no code"}}"#, #"{"error":{"code":"has space"}}"#,
            #"{"disconnect":{"code":1000}}"#, #"{"disconnect":{"code":5000}}"#,
        ])
    func malformed(text: String) {
        #expect(throws: ProxyAnswer.Malformed.self) { try Self.answer(text) }
    }

    @Test("a connect result needs a user and valid channel names")
    func badConnectResults() throws {
        for text in [#"{"result":{}}"#, #"{"result":{"user":"a","channels":["bad name"]}}"#, #"{"result":{"user":"a","expire_at":"soon"}}"#] {
            let result = try Self.result(text)
            #expect(throws: ProxyAnswer.Malformed.self) { try result.connectGrant() }
        }
    }
}

@Suite("Proxy requests and channel rules")
struct ProxyRequestTests {
    @Test("bodies are the documented JSON; publish data goes as sent")
    func bodies() {
        #expect(
            String(decoding: ProxyRequest.connect(client: "c1", remote: "127.0.0.1:5", headers: [("Cookie", "a=1")]), as: UTF8.self)
                == #"{"client":"c1","remote":"127.0.0.1:5","protocol":"native","headers":{"Cookie":"a=1"}}"#)
        #expect(
            String(decoding: ProxyRequest.subscribe(client: "c1", user: nil, channel: "chat"), as: UTF8.self)
                == #"{"client":"c1","user":"","channel":"chat"}"#)
        #expect(
            String(decoding: ProxyRequest.publish(client: "c1", user: "ann", channel: "chat", data: Array(#"{"t":"hi"}"#.utf8)), as: UTF8.self)
                == #"{"client":"c1","user":"ann","channel":"chat","data":{"t":"hi"}}"#)
        #expect(String(decoding: ProxyRequest.refresh(client: "c1", user: "ann"), as: UTF8.self) == #"{"client":"c1","user":"ann"}"#)
    }

    @Test("no table sets the key: every channel is proxied; once one does, only its true channels")
    func channelRules() {
        #expect(ProxyChannelRules().proxiesSubscribe(to: "anything"))
        let rules = ProxyChannelRules(rules: [
            .init(pattern: "public:*", subscribe: false),
            .init(pattern: "chat:*", subscribe: true),
            .init(pattern: "log:*"),
        ])
        #expect(!rules.proxiesSubscribe(to: "public:news"))
        #expect(rules.proxiesSubscribe(to: "chat:1"))
        #expect(!rules.proxiesSubscribe(to: "log:1"))
        #expect(!rules.proxiesSubscribe(to: "other"))
        #expect(rules.proxiesPublish(to: "other"))
        #expect(rules.proxiesPublish(to: "public:news"))
    }
}
