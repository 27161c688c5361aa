import NIOCore
import NIOWebSocket
import SwitchboardCore
import ServiceLifecycle
import SwitchboardServer
import Testing
import WSClient

/// Every way the server ends a connection, and that each ends only that connection.
@Suite("Close codes and limits")
struct ClosingTests {
    func expectClose(_ frame: WebSocketCloseFrame?, _ code: UInt16, sourceLocation: SourceLocation = #_sourceLocation) {
        let received: UInt16? = frame.map {
            switch $0.closeCode {
            case .unknown(let raw): raw
            default: UInt16(webSocketErrorCode: $0.closeCode)
            }
        }
        #expect(received == code, sourceLocation: sourceLocation)
    }

    @Test func binaryFramesClose1003() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.sendBinary([1, 2, 3])
            expectClose(try await client.closeFrame(), 1003)
            #expect(try await stillServes(server))
        }
    }

    @Test func oversizedMessagesClose1009() async throws {
        try await TestServer.with {
            $0.hub.maxMessageBytes = 1024
        } body: { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.send(#"{"type":"publish","channel":"big","data":"\#(String(repeating: "x", count: 2000))"}"#)
            expectClose(try await client.closeFrame(), 1009)
            #expect(try await stillServes(server))
        }
    }

    @Test func fragmentedMessagesOverTheLimitClose1009() async throws {
        try await TestServer.with {
            $0.hub.maxMessageBytes = 1024
        } body: { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            let part = ByteBuffer(repeating: UInt8(ascii: "x"), count: 600)
            try await client.send(frame: WebSocketFrame(fin: false, opcode: .text, data: part))
            try await client.send(frame: WebSocketFrame(fin: false, opcode: .continuation, data: part))
            expectClose(try await client.closeFrame(), 1009)
        }
    }

    @Test func fragmentedMessagesAreReassembled() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.send(frame: WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(string: #"{"type":"pi"#)))
            try await client.send(frame: WebSocketFrame(fin: false, opcode: .continuation, data: ByteBuffer(string: #"ng","id""#)))
            try await client.send(frame: WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(string: #":9}"#)))
            #expect(try await client.next() == #"{"type":"pong","id":9}"#)
            try await client.close()
        }
    }

    @Test func invalidUTF8Closes1007() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.send(frame: WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: [0x7B, 0xC0, 0x80, 0x7D])))
            expectClose(try await client.closeFrame(), 1007)
            #expect(try await stillServes(server))
        }
    }

    @Test func clientCloseIsEchoed() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            try await client.close()
            expectClose(try await client.closeFrame(), 1000)
            try await server.eventually("the session to leave") { server.hub.connectionCount == 0 }
        }
    }

    @Test func unmaskedFramesClose1002() async throws {
        try await TestServer.with { server in
            let connection = try await RawConnection.connect(port: server.port)
            var request = RawConnection.upgradeRequest()
            request += [0x81, 0x02, 0x7B, 0x7D]  // unmasked text frame "{}"
            let reply = ServerFrames(try await connection.exchange(request))
            #expect(reply.statusLine == "HTTP/1.1 101 Switching Protocols")
            #expect(reply.closeCode == 1002)
        }
    }

    @Test func slowConsumerIsClosedWith4002AndItsMailboxStaysBounded() async throws {
        try await TestServer.with {
            $0.hub.outboundQueueFrames = 64
            $0.hub.outboundQueueBytes = 64 * 1024
            // Long enough for the test to come back and read the close frame.
            $0.hub.closeTimeout = .seconds(600)
        } body: { server in
            let slow = try await TestClient.connect(server.url, startReading: false)
            try await slow.send(#"{"type":"subscribe","channel":"firehose"}"#)
            try await server.eventually("the subscription") { await server.hub.statistics().subscriptions == 1 }
            let healthy = try await TestClient.connect(server.url)
            _ = try await healthy.next()
            try await healthy.send(#"{"type":"subscribe","channel":"firehose"}"#)
            _ = try await healthy.next()
            let publisher = try await TestClient.connect(server.url)
            _ = try await publisher.next()

            // Publish until the server gives up on the client that does not read.
            let payload = String(repeating: "p", count: 1000)
            var published = 0
            while await server.hub.statistics().slowConsumerCloses == 0 && published < 200_000 {
                published += 1
                try await publisher.send(#"{"type":"publish","channel":"firehose","data":"\#(payload)","id":\#(published)}"#)
                _ = try await publisher.next()
                let mailboxes = await server.hub.sessionMailboxes()
                #expect(mailboxes.values.allSatisfy { $0.depth <= 64 && $0.queuedBytes <= 64 * 1024 })
            }
            #expect(await server.hub.statistics().slowConsumerCloses == 1)

            // While it closes (its close frame waits behind what it never read), it says so.
            let window = try await server.getJSON("/api/clients?limit=10") as? [String: Any]
            let rows = window?["rows"] as? [[String: Any]] ?? []
            let closing = rows.filter { $0["state"] as? String == "closing" }
            #expect(closing.count == 1 && rows.filter { $0["state"] as? String == "open" }.count == 2)
            #expect(closing.first?["close_code"] as? Int == 4002)
            #expect(closing.first?["close_reason"] as? String == "slow consumer")
            if let id = closing.first?["id"] as? String {
                let row = try await server.getJSON("/api/clients/\(id)") as? [String: Any]
                #expect(row?["state"] as? String == "closing" && row?["close_code"] as? Int == 4002)
            }

            // The healthy subscriber got every message, in order.
            for n in 1...published {
                let message = try #require(try await healthy.next())
                #expect(message.hasSuffix(#","seq":\#(n)}"#))
            }
            // What the slow consumer never read was dropped, and no longer counts as queued.
            try await server.eventually("nothing queued") { await server.hub.statistics().mailboxDepth == 0 }
            await slow.resumeReading()
            expectClose(try await slow.closeFrame(), 4002)
            try await healthy.close()
            try await publisher.close()
        }
    }

    @Test func dropOldestKeepsASlowClientConnectedAndBounded() async throws {
        try await TestServer.with {
            $0.hub.outboundQueueFrames = 32
            $0.hub.slowConsumerPolicy = .dropOldest
        } body: { server in
            let slow = try await TestClient.connect(server.url, startReading: false)
            try await slow.send(#"{"type":"subscribe","channel":"ticker"}"#)
            try await server.eventually("the subscription") { await server.hub.statistics().subscriptions == 1 }
            let publisher = try await TestClient.connect(server.url)
            _ = try await publisher.next()
            let payload = String(repeating: "d", count: 2000)
            var published = 0
            var dropped = 0
            while dropped == 0 && published < 100_000 {
                published += 1
                try await publisher.send(#"{"type":"publish","channel":"ticker","data":"\#(payload)","id":\#(published)}"#)
                _ = try await publisher.next()
                let mailboxes = await server.hub.sessionMailboxes()
                #expect(mailboxes.values.allSatisfy { $0.depth <= 32 })
                dropped = mailboxes.values.map(\.dropped).max() ?? 0
            }
            #expect(dropped > 0)
            #expect(server.hub.connectionCount == 2)
            try await publisher.send(#"{"type":"publish","channel":"ticker","data":"last","id":0}"#)
            _ = try await publisher.next()
            // The slow client is still connected; reading again, it gets the newest message.
            await slow.resumeReading()
            _ = try await slow.next(where: { $0.contains(#""data":"last""#) })
            try await slow.close()
            try await publisher.close()
        }
    }

    @Test func silentClientsAreClosedByTheHeartbeat() async throws {
        try await TestServer.with {
            $0.hub.heartbeatInterval = .milliseconds(100)
            $0.hub.closeTimeout = .milliseconds(200)
        } body: { server in
            let connection = try await RawConnection.connect(port: server.port)
            // Complete the handshake, then never answer a ping.
            let reply = ServerFrames(try await connection.exchange(RawConnection.upgradeRequest()))
            #expect(reply.frames.contains { $0.opcode == 0x9 }, "pings were sent")
            #expect(reply.closeCode == 1001)
            // Still serving: asked over HTTP, since at a 100 ms heartbeat a fresh WebSocket client
            // on a loaded machine could itself be silent long enough to be closed.
            let health = try await RawConnection.connect(port: server.port)
            let answer = try await health.exchange(Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func clientsThatAnswerPingsStayConnected() async throws {
        try await TestServer.with {
            $0.hub.heartbeatInterval = .seconds(1)
        } body: { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            // Across several heartbeat intervals the client, which answers pings and otherwise
            // sends a request only every 1.2 s (so it is pinged in between), keeps working.
            for n in 0..<4 {
                try await Task.sleep(for: .milliseconds(1200))
                try await client.send(#"{"type":"ping","id":\#(n)}"#)
                #expect(try await client.next() == #"{"type":"pong","id":\#(n)}"#)
            }
            try await client.close()
        }
    }

    @Test func gracefulShutdownDeliversQueuedMessagesThenCloses1001() async throws {
        try await TestServer.with { server in
            let subscriber = try await TestClient.connect(server.url, startReading: false)
            try await subscriber.send(#"{"type":"subscribe","channel":"last"}"#)
            // The subscriber reads nothing yet, so learn of its subscription from the hub.
            try await server.eventually("the subscription") { await server.hub.statistics().subscriptions == 1 }
            let publisher = try await TestClient.connect(server.url)
            _ = try await publisher.next()
            let count = 500
            for n in 1...count {
                try await publisher.send(#"{"type":"publish","channel":"last","data":\#(n),"id":\#(n)}"#)
            }
            for _ in 1...count { _ = try await publisher.next() }
            // Every message is accepted; now shut down while the subscriber has not read them.
            await server.group.triggerGracefulShutdown()
            await subscriber.resumeReading()
            #expect(try await subscriber.next()?.hasPrefix(#"{"type":"welcome""#) == true)
            #expect(try await subscriber.next() == #"{"type":"subscribed","channel":"last"}"#)
            for n in 1...count {
                let message = try #require(try await subscriber.next())
                #expect(message.contains(#""data":\#(n),"#))
            }
            expectClose(try await subscriber.closeFrame(), 1001)
        }
    }

    /// A fresh client can still connect and be served.
    func stillServes(_ server: TestServer) async throws -> Bool {
        let client = try await TestClient.connect(server.url)
        defer { Task { try? await client.close() } }
        _ = try await client.next()
        try await client.send(#"{"type":"ping","id":"alive"}"#)
        return try await client.next() == #"{"type":"pong","id":"alive"}"#
    }
}

extension UInt16 {
    init(webSocketErrorCode code: WebSocketErrorCode) {
        var buffer = ByteBuffer()
        buffer.write(webSocketErrorCode: code)
        self = buffer.readInteger(as: UInt16.self) ?? 0
    }
}
