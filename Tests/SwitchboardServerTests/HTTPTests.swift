import Foundation
import SwitchboardServer
import Testing

/// The HTTP side: health, the landing page, and answers to handshakes that cannot upgrade.
@Suite("HTTP endpoints")
struct HTTPTests {
    func get(_ server: TestServer, _ request: [UInt8]) async throws -> (status: Substring, head: String, body: String) {
        let bytes = try await RawConnection.connect(port: server.port).exchange(request) { received in
            // Stop once a complete response with Content-Length has arrived.
            guard let end = received.firstRange(of: [13, 10, 13, 10]) else { return false }
            let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
            guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            else { return false }
            return received.count - end.upperBound >= length
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (parts[0].split(separator: "\r\n").first ?? "", parts[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    func plainGet(_ path: String) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    }

    @Test func healthReportsStatusUptimeAndConnections() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            _ = try await client.next()
            let response = try await get(server, plainGet("/healthz"))
            #expect(response.status == "HTTP/1.1 200 OK")
            let body = try #require(JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
            #expect(body["status"] as? String == "ok")
            #expect(body["connections"] as? Int == 1)
            #expect(body["uptime_s"] is Int)
            try await client.close()
        }
    }

    @Test func landingPageDescribesTheProtocol() async throws {
        try await TestServer.with { server in
            let response = try await get(server, plainGet("/"))
            #expect(response.status == "HTTP/1.1 200 OK")
            #expect(response.head.lowercased().contains("content-type: text/html"))
            #expect(response.body.contains(#"{"type":"subscribe","channel":"news"}"#))
            #expect(response.body.contains("/ws"))
        }
    }

    @Test func plainGetOnTheWebSocketPathIs426() async throws {
        try await TestServer.with { server in
            let response = try await get(server, plainGet("/ws"))
            #expect(response.status == "HTTP/1.1 426 Upgrade Required")
            #expect(response.head.lowercased().contains("sec-websocket-version: 13"))
        }
    }

    @Test func wrongWebSocketVersionIs426() async throws {
        try await TestServer.with { server in
            let response = try await get(server, RawConnection.upgradeRequest(version: "8"))
            #expect(response.status == "HTTP/1.1 426 Upgrade Required")
            #expect(response.head.lowercased().contains("sec-websocket-version: 13"))
        }
    }

    @Test func missingKeyIs400() async throws {
        try await TestServer.with { server in
            let response = try await get(server, RawConnection.upgradeRequest(key: nil))
            #expect(response.status == "HTTP/1.1 400 Bad Request")
        }
    }

    @Test func connectionLimitAnswers503AndFreesUpAgain() async throws {
        try await TestServer.with {
            $0.hub.maxConnections = 2
        } body: { server in
            let first = try await TestClient.connect(server.url)
            let second = try await TestClient.connect(server.url)
            _ = try await first.next()
            _ = try await second.next()
            let refused = try await get(server, RawConnection.upgradeRequest())
            #expect(refused.status == "HTTP/1.1 503 Service Unavailable")
            #expect(refused.body.contains("limit of 2 connections"))
            try await first.close()
            try await server.eventually("a slot to free up") { server.hub.connectionCount == 1 }
            let third = try await TestClient.connect(server.url)
            #expect(try await third.next()?.contains("welcome") == true)
            try await second.close()
            try await third.close()
        }
    }

    @Test func aHandshakeThatNeverFinishesIsClosed() async throws {
        try await TestServer.with {
            $0.handshakeTimeout = .milliseconds(300)
        } body: { server in
            // Slowloris: a request head that never ends. The server closes the connection.
            let received = try await RawConnection.connect(port: server.port).exchange(Array("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8))
            #expect(received.isEmpty)
            let client = try await TestClient.connect(server.url)
            #expect(try await client.next()?.contains("welcome") == true)
            try await client.close()
        }
    }

    @Test func unknownPathsAre404() async throws {
        try await TestServer.with { server in
            let response = try await get(server, plainGet("/nope"))
            #expect(response.status == "HTTP/1.1 404 Not Found")
        }
    }
}
