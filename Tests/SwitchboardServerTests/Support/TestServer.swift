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

    var url: String { "ws://127.0.0.1:\(port)/ws" }
    var hub: Hub { server.hub }

    /// Starts a server, runs `body`, then shuts the server down gracefully.
    static func with(
        _ configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        configuration.statsInterval = .zero
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

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
