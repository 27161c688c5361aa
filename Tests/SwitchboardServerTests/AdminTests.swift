import Foundation
import ServiceLifecycle
import SwitchboardCore
import SwitchboardServer
import Testing
import NIOWebSocket
import WSClient

/// The control plane over real sockets: admin API, admin stream, metrics, supervision.
@Suite("Admin API and metrics")
struct AdminTests {
    func object(_ value: Any) throws -> [String: Any] { try #require(value as? [String: Any]) }

    /// Reads the welcome frame and returns the client id it names.
    func clientID(of client: TestClient) async throws -> String {
        let text = try #require(try await client.next())
        let welcome = try object(try JSONSerialization.jsonObject(with: Data(text.utf8)))
        return try #require(welcome["client"] as? String)
    }

    @Test func everyAdminRouteNeedsTheToken() async throws {
        try await TestServer.with { server in
            // Each route from its own address: five wrong tokens from one address lock it out.
            for (index, path) in ["/api/stats", "/api/clients", "/api/channels", "/api/actors", "/api/events", "/metrics"].enumerated() {
                let source = "127.0.1.\(index + 1)"
                #expect(try await server.http("GET", path, token: nil, from: source).status == 401, "\(path) without a token")
                #expect(
                    try await server.http("GET", path, token: "wrong-token-wrong-token", from: source).status == 401, "\(path) with a wrong token")
                #expect(try await server.http("GET", path, from: source).status == 200, "\(path) with the token")
            }
            let refused = try await server.http("POST", "/api/broadcast", body: #"{"data":1}"#, token: nil, from: "127.0.1.9")
            #expect(refused.status == 401)
            #expect(refused.body.contains("unauthorized"))
            let stream = ServerFrames(
                try await RawConnection.connect(port: server.port, from: "127.0.1.10").exchange(RawConnection.upgradeRequest(path: "/admin/stream")))
            #expect(stream.statusLine.hasPrefix("HTTP/1.1 401"))
        }
    }

    @Test func countersAreExactAfterScriptedTraffic() async throws {
        try await TestServer.with { server in
            let a = try await TestClient.connect(server.url)
            let b = try await TestClient.connect(server.url)
            let publisher = try await TestClient.connect(server.url)
            for client in [a, b, publisher] { _ = try await client.next() }
            for client in [a, b] {
                try await client.send(#"{"type":"subscribe","channel":"scores"}"#)
                _ = try await client.next()
            }
            for n in 1...10 {
                try await publisher.send(#"{"type":"publish","channel":"scores","data":\#(n),"id":\#(n)}"#)
                _ = try await publisher.next()
            }
            for client in [a, b] { for _ in 1...10 { _ = try await client.next() } }

            let stats = try object(try await server.getJSON("/api/stats"))
            let totals = try object(try #require(stats["totals"]))
            #expect(totals["connections"] as? Int == 3)
            #expect(totals["subscriptions"] as? Int == 2)
            #expect(totals["channels"] as? Int == 1)
            #expect(totals["published"] as? Int == 10)
            #expect(totals["deliveries"] as? Int == 20)
            #expect(totals["connects"] as? Int == 3)
            #expect(totals["messages_in"] as? Int == 12)  // 2 subscribes + 10 publishes

            let window = try object(try await server.getJSON("/api/clients?sort=msgs_in&order=desc&limit=1"))
            #expect(window["total"] as? Int == 3)
            let top = try object(try #require((window["rows"] as? [Any])?.first))
            #expect(top["messages_in"] as? Int == 10)
            #expect(top["messages_out"] as? Int == 11)  // welcome + 10 acks

            let subscribers = try object(try await server.getJSON("/api/clients?channel=scores"))
            #expect(subscribers["total"] as? Int == 2)
            let channels = try #require(try await server.getJSON("/api/channels") as? [[String: Any]])
            #expect(channels.first?["name"] as? String == "scores")
            #expect(channels.first?["subscribers"] as? Int == 2)
            #expect(channels.first?["published"] as? Int == 10)
            for client in [a, b, publisher] { try await client.close() }
        }
    }

    @Test func aClientThatStopsReadingShowsAGrowingMailbox() async throws {
        try await TestServer.with {
            $0.hub.outboundQueueFrames = 1_000_000
            $0.hub.outboundQueueBytes = 1 << 30
        } body: { server in
            let slow = try await TestClient.connect(server.url, startReading: false)
            try await slow.send(#"{"type":"subscribe","channel":"flood"}"#)
            try await server.eventually("the subscription") { await server.hub.statistics().subscriptions == 1 }
            let publisher = try await TestClient.connect(server.url)
            _ = try await publisher.next()
            let payload = String(repeating: "z", count: 4000)
            var depth = 0
            var published = 0
            while depth == 0 && published < 50_000 {
                for _ in 0..<100 {
                    published += 1
                    try await publisher.send(#"{"type":"publish","channel":"flood","data":"\#(payload)"}"#)
                }
                try await publisher.send(#"{"type":"ping","id":0}"#)
                _ = try await publisher.next(where: { $0.contains("pong") })
                let clients = try object(try await server.getJSON("/api/clients?sort=mailbox&order=desc&limit=1"))
                let row = try object(try #require((clients["rows"] as? [Any])?.first))
                depth = try object(try #require(row["mailbox"]))["depth"] as? Int ?? 0
            }
            #expect(depth > 0)
            // The node's total counts what waits there (nothing is written to it meanwhile).
            #expect(await server.hub.statistics().mailboxDepth >= depth)
            // Long-lived actors come first; the deepest session leads the sessions after them.
            let actors = try #require(try await server.getJSON("/api/actors?limit=10") as? [[String: Any]])
            let deepestSession = actors.first { $0["kind"] as? String == "session" }
            #expect((deepestSession?["depth"] as? Int ?? 0) > 0)
            try await publisher.close()
            await slow.resumeReading()
            try await server.eventually("every queued frame written") { await server.hub.statistics().mailboxDepth == 0 }
            try await slow.close()
        }
    }

    @Test func kickClosesWith4000AndTheReason() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            let id = try await clientID(of: client)
            let answer = try await server.http("POST", "/api/clients/\(id)/kick", body: #"{"reason":"maintenance"}"#)
            #expect(answer.status == 200)
            let close = try #require(try await client.closeFrame())
            #expect(close.closeCode == .unknown(4000))
            #expect(close.reason == "maintenance")
            #expect(try await server.http("POST", "/api/clients/nobody/kick", body: "{}").status == 404)
            let events = try #require(try await server.getJSON("/api/events") as? [[String: Any]])
            #expect(events.contains { $0["kind"] as? String == "kick" && $0["client"] as? String == id && $0["code"] as? Int == 4000 })
        }
    }

    @Test func kickAllWithReconnectAdviceCloses4200() async throws {
        try await TestServer.with { server in
            let clients = [try await TestClient.connect(server.url), try await TestClient.connect(server.url)]
            for client in clients { _ = try await client.next() }
            let answer = try await server.http("POST", "/api/kick", body: #"{"all":true,"reconnect":true}"#)
            #expect(answer.body == #"{"kicked":2}"#)
            for client in clients {
                #expect(try await client.closeFrame()?.closeCode == .unknown(4200))
            }
        }
    }

    @Test func broadcastReachesEveryClient() async throws {
        try await TestServer.with { server in
            var clients: [TestClient] = []
            for _ in 0..<5 {
                let client = try await TestClient.connect(server.url)
                _ = try await client.next()
                clients.append(client)
            }
            let answer = try await server.http("POST", "/api/broadcast", body: #"{"data":{"notice":"maintenance at 5"}}"#)
            #expect(answer.body == #"{"reached":5}"#)
            for client in clients {
                #expect(try await client.next() == #"{"type":"broadcast","data":{"notice":"maintenance at 5"},"from":"operator"}"#)
                try await client.close()
            }
        }
    }

    @Test func backendsPublishThroughTheAPI() async throws {
        try await TestServer.with { server in
            let subscriber = try await TestClient.connect(server.url)
            _ = try await subscriber.next()
            try await subscriber.send(#"{"type":"subscribe","channel":"orders"}"#)
            _ = try await subscriber.next()
            let answer = try await server.http("POST", "/api/publish", body: #"{"channel":"orders","data":[1, 2]}"#)
            #expect(answer.body == #"{"channel":"orders","seq":1,"reached":1}"#)
            #expect(try await subscriber.next() == #"{"type":"message","channel":"orders","data":[1, 2],"from":"api","seq":1}"#)
            #expect(try await server.http("POST", "/api/publish", body: #"{"channel":"bad name","data":1}"#).status == 400)
            #expect(try await server.http("POST", "/api/publish", body: #"{"channel":"orders"}"#).status == 400)
            #expect(try await server.http("POST", "/api/publish", body: "not json").status == 400)
            try await subscriber.close()
        }
    }

    @Test func adminStreamPushesSnapshotsAndEventsAndRunsCommands() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            let id = try await clientID(of: client)
            let admin = try await TestClient.connect(
                "ws://127.0.0.1:\(server.port)/admin/stream?token=\(TestServer.adminToken)", maxFrameSize: 1 << 22)
            try await admin.send(#"{"type":"view","id":1,"interval_ms":100,"query":{"sort":"id","limit":10}}"#)
            // The view's result and a snapshot showing the client arrive in either order.
            var sawResult = false
            var sawSnapshot = false
            while !(sawResult && sawSnapshot), let message = try await admin.next() {
                if message == #"{"type":"result","ok":true,"id":1}"# { sawResult = true }
                if message.hasPrefix(#"{"type":"snapshot""#) && message.contains(#""connections":1"#) {
                    #expect(message.contains(#""id":"\#(id)""#))
                    sawSnapshot = true
                }
            }
            #expect(sawResult && sawSnapshot)
            try await admin.send(#"{"type":"broadcast","id":2,"data":"from the console"}"#)
            _ = try await admin.next { $0.hasPrefix(#"{"type":"result","ok":true,"id":2"#) }
            #expect(try await client.next() == #"{"type":"broadcast","data":"from the console","from":"operator"}"#)
            try await admin.send(#"{"type":"kick","id":3,"client":"\#(id)","reason":"console kick"}"#)
            _ = try await admin.next { $0.hasPrefix(#"{"type":"event""#) && $0.contains(#""kind":"kick""#) }
            #expect(try await client.closeFrame()?.closeCode == .unknown(4000))
            try await admin.close()
        }
    }

    @Test func metricsParseAsPrometheusTextWithTheExpectedFamilies() async throws {
        try await TestServer.with { server in
            let (status, body) = try await server.http("GET", "/metrics")
            #expect(status == 200)
            for family in [
                "switchboard_connections", "switchboard_messages_in_total", "switchboard_deliveries_total",
                "switchboard_mailbox_depth", "switchboard_actor_restarts_total", "switchboard_publish_latency_seconds",
            ] {
                #expect(body.contains("# TYPE \(family) "), "\(family)")
            }
        }
    }

    @Test func aFailingMetricsActorIsRestartedAndTheRestartIsVisible() async throws {
        try await TestServer.with {
            $0.hub.faultInjection = true
        } body: { server in
            #expect(try await server.http("POST", "/api/debug/fail", body: "{}").status == 200)
            try await server.eventually("the restart to show") {
                guard let stats = try? await server.getJSON("/api/stats") as? [String: Any],
                    let totals = stats["totals"] as? [String: Any]
                else { return false }
                return totals["restarts"] as? Int == 1
            }
            let events = try #require(try await server.getJSON("/api/events") as? [[String: Any]])
            #expect(events.contains { $0["kind"] as? String == "restart" })
            let actors = try #require(try await server.getJSON("/api/actors") as? [[String: Any]])
            #expect(actors.contains { $0["name"] as? String == "metrics" && $0["restarts"] as? Int == 1 })
            // And the metrics actor works again: a new connection shows up in its figures.
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await server.eventually("the collector to see the client") {
                ((try? await server.getJSON("/api/stats") as? [String: Any])?["totals"] as? [String: Any])?["connects"] as? Int == 1
            }
            try await client.close()
        }
    }

    @Test func aFailingSessionClosesOnlyItselfWith1011() async throws {
        try await TestServer.with {
            $0.hub.faultInjection = true
        } body: { server in
            let victim = try await TestClient.connect(server.url)
            let bystander = try await TestClient.connect(server.url)
            _ = try await victim.next()
            _ = try await bystander.next()
            try await victim.send(#"{"type":"debug_fail"}"#)
            #expect(try await victim.closeFrame()?.closeCode == .unexpectedServerError)
            try await bystander.send(#"{"type":"ping","id":1}"#)
            #expect(try await bystander.next() == #"{"type":"pong","id":1}"#)
            try await bystander.close()
        }
    }

    @Test func faultInjectionIsOffByDefault() async throws {
        try await TestServer.with { server in
            #expect(try await server.http("POST", "/api/debug/fail", body: "{}").status == 404)
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.send(#"{"type":"debug_fail"}"#)
            #expect(try await client.next()?.contains("unknown_type") == true)
            try await client.close()
        }
    }

    /// With many clients the actors an operator looks for first (shards, the metrics actor) stay
    /// at the top, ahead of the sessions, whatever the sessions' names.
    @Test func longLivedActorsComeBeforeSessions() async throws {
        try await TestServer.with { server in
            var clients: [TestClient] = []
            for _ in 0..<30 { clients.append(try await TestClient.connect(server.url)) }
            try await server.eventually("30 connections") { server.hub.connectionCount == 30 }
            let actors = try #require(try await server.getJSON("/api/actors?limit=5") as? [[String: Any]])
            let kinds = actors.map { $0["kind"] as? String ?? "" }
            #expect(kinds.prefix(3).sorted() == ["hub-shard", "hub-shard", "metrics"], "\(kinds)")
            #expect(kinds.dropFirst(3).allSatisfy { $0 == "session" })
            for client in clients { try await client.close() }
        }
    }

    /// Each client takes its rate when the collector samples; the busiest sorts first and its
    /// row, detail and session actor show it, while an idle one stays at 0.
    @Test func aBusyClientShowsItsRate() async throws {
        try await TestServer.with { server in
            let idle = try await TestClient.connect(server.url)
            let busy = try await TestClient.connect(server.url)
            _ = try await idle.next()
            let welcome = try #require(try await busy.next())
            let id = try #require(welcome.split(separator: "\"").drop { $0 != "client" }.dropFirst(2).first.map(String.init))
            let pinging = Task {
                var sent = 0
                while !Task.isCancelled {
                    sent += 1
                    try? await busy.send(#"{"type":"ping","id":\#(sent)}"#)
                    _ = try? await busy.next()
                }
            }
            try await server.eventually("the busy client to sort first with a rate") {
                guard let window = try? await server.getJSON("/api/clients?sort=rate&desc=1&limit=2") as? [String: Any],
                    let rows = window["rows"] as? [[String: Any]], rows.count == 2
                else { return false }
                return rows[0]["id"] as? String == id && (rows[0]["rate"] as? Double ?? 0) > 0 && rows[1]["rate"] as? Double == 0
            }
            let detail = try #require(try await server.getJSON("/api/clients/\(id)") as? [String: Any])
            #expect((detail["rate"] as? Double ?? 0) > 0)
            pinging.cancel()
            await pinging.value
            try await idle.close()
            try await busy.close()
        }
    }

    /// Every refused admin stream command says why for programs too: `"ok":false` with a `"code"`.
    @Test func everyFailedAdminStreamCommandHasACode() async throws {
        try await TestServer.with { server in
            let admin = try await TestClient.connect(
                "ws://127.0.0.1:\(server.port)/admin/stream?token=\(TestServer.adminToken)", maxFrameSize: 1 << 22)
            let commands: [(command: String, code: String)] = [
                ("not json", "invalid_json"),
                ("[1,2]", "invalid_json"),
                (#"{"type":"view","id":1,"query":{"limit":"many"}}"#, "bad_request"),
                (#"{"type":"view","id":2,"query":"mailbox"}"#, "bad_request"),
                (#"{"id":3}"#, "unknown_command"),
                (#"{"type":"kick","id":4,"client":"nobody"}"#, "not_found"),
            ]
            for (command, code) in commands {
                try await admin.send(command)
                let text = try await admin.next { $0.hasPrefix(#"{"type":"result""#) }
                let result = try object(try JSONSerialization.jsonObject(with: Data(text.utf8)))
                #expect(result["ok"] as? Bool == false, "\(command): \(text)")
                #expect(result["code"] as? String == code, "\(command): \(text)")
                #expect((result["error"] as? String)?.isEmpty == false, "\(command): \(text)")
            }
            try await admin.close()
        }
    }

    /// A console that changes its view gets the new window at once, not at the next interval.
    @Test func aViewCommandIsAnsweredWithItsWindowAtOnce() async throws {
        try await TestServer.with { server in
            var clients: [TestClient] = []
            for _ in 0..<3 { clients.append(try await TestClient.connect(server.url)) }
            try await server.eventually("3 connections") { server.hub.connectionCount == 3 }
            let admin = try await TestClient.connect(
                "ws://127.0.0.1:\(server.port)/admin/stream?token=\(TestServer.adminToken)", maxFrameSize: 1 << 22)
            // Snapshots every minute: any later one within the test comes from the view change.
            try await admin.send(#"{"type":"view","id":1,"interval_ms":60000,"query":{"sort":"id","limit":1}}"#)
            _ = try await admin.next { $0.hasPrefix(#"{"type":"result","ok":true,"id":1"#) }
            _ = try await admin.next { $0.hasPrefix(#"{"type":"snapshot""#) }
            // Commands are performed in order, so a snapshot sent for the view change comes
            // before the answer to the next command; a periodic one would come a minute later.
            try await admin.send(#"{"type":"view","id":2,"query":{"sort":"id","offset":2,"limit":1}}"#)
            try await admin.send(#"{"type":"kick","id":3,"client":"nobody"}"#)
            _ = try await admin.next { $0.hasPrefix(#"{"type":"result","ok":true,"id":2"#) }
            let next = try await admin.next { $0.hasPrefix(#"{"type":"snapshot""#) || $0.contains(#""id":3"#) }
            // It names the view it was made for, so a console can tell it from an earlier one.
            #expect(next.hasPrefix(#"{"type":"snapshot","query":{"#))
            #expect(next.contains(#""offset":2"#))
            try await admin.close()
            for client in clients { try await client.close() }
        }
    }
}
