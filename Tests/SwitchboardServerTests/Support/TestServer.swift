import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SwitchboardServer
import Testing

/// A real server on 127.0.0.1, port 0, two event loops (so cross-shard paths run), driven by
/// the same `ServiceGroup` wiring as the binary.
struct TestServer: Sendable {
    let server: SwitchboardServer
    let port: Int
    let group: ServiceGroup

    static let adminToken = "test-admin-token-0123456789"

    var url: String { "ws://127.0.0.1:\(port)/ws" }
    var hub: Hub { server.hub }

    /// Starts a server, runs `body`, then shuts the server down gracefully.
    static func with(
        _ configure: (inout ServerConfiguration) -> Void = { _ in },
        body: (TestServer) async throws -> Void
    ) async throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        configuration.statsInterval = .zero
        configuration.adminToken = TestServer.adminToken
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let server = SwitchboardServer(configuration: configuration, logger: logger) { port in portSink.yield(port) }
        let group = ServiceGroup(services: server.services, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestFailure("server did not start") }
            let testServer = TestServer(server: server, port: port, group: group)
            do {
                try await body(testServer)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Waits (polling, no time limit short of `attempts` × 10 ms) until `condition` holds.
    func eventually(_ what: String, attempts: Int = 3000, _ condition: @Sendable () async -> Bool) async throws {
        for _ in 0..<attempts {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("timed out waiting for \(what)")
    }
}

extension TestServer {
    /// One HTTP request on a fresh connection (from `source`, a loopback address, when given);
    /// returns the status code and the body.
    func http(
        _ method: String, _ path: String, body: String? = nil, token: String? = TestServer.adminToken, from source: String? = nil
    ) async throws -> (
        status: Int, body: String
    ) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        let request = Array((head + "\r\n" + (body ?? "")).utf8)
        let response = String(decoding: try await RawConnection.connect(port: port, from: source).exchange(request), as: UTF8.self)
        let parts = response.components(separatedBy: "\r\n\r\n")
        let statusLine = parts[0].split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        var payload = parts.dropFirst().joined(separator: "\r\n\r\n")
        if parts[0].lowercased().contains("transfer-encoding: chunked") { payload = Self.dechunk(payload) }
        return (status, payload)
    }

    static func dechunk(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            result += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return result
    }

    /// GET an admin route and decode the JSON object or array.
    func getJSON(_ path: String) async throws -> Any {
        let (status, body) = try await http("GET", path)
        guard status == 200 else { throw TestFailure("GET \(path) answered \(status): \(body)") }
        return try JSONSerialization.jsonObject(with: Data(body.utf8))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
