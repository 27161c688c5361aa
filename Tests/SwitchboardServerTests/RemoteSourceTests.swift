import ConsoleRuntime
import ConsoleTerminal
import NIOWebSocket
import WSCore
import SwitchboardCore
import SwitchboardServer
import Testing

/// The attached console's source against a real admin stream: commands in their wire form,
/// results matched to them by id.
@Suite struct RemoteSourceTests {
    @Test func commandsGetTheirOwnResults() async throws {
        try await TestServer.with { server in
            let client = try await TestClient.connect(server.url)
            let welcome = try #require(try await client.next())
            let id = try #require(welcome.split(separator: "\"").dropFirst(7).first.map(String.init))
            #expect(welcome.contains("\"client\":\"\(id)\""))
            let source = RemoteSource(url: "ws://127.0.0.1:\(server.port)/admin/stream", token: TestServer.adminToken)
            let stop = StopFlag()
            let running = Task { await source.run(until: stop) }
            try await server.eventually("the remote source to connect") {
                if case .failed(let failure) = await source.perform(.kick(.client("nobody"))) { return failure.code == .notFound }
                return false
            }
            // Several commands in flight at once: each gets its own answer.
            async let broadcast = source.perform(.broadcast(data: Array(#""hello""#.utf8)))
            async let missing = source.perform(.kick(.client("c-none")))
            async let published = source.perform(.publish(channel: "news", data: Array("1".utf8), from: "operator"))
            #expect(await broadcast == .broadcast(reached: 1))
            #expect(await missing == .failed(OperatorFailure(.notFound, "no client c-none")))
            if case .published(let channel, _, let reached, _) = await published {
                #expect(channel == "news" && reached == 0)
            } else {
                Issue.record("publish did not answer as a publish")
            }
            #expect(try await client.next() == #"{"type":"broadcast","data":"hello","from":"operator"}"#)
            #expect(await source.perform(.kick(.client(id), reason: "bye")) == .kicked(1))
            #expect(try await client.closeFrame()?.closeCode == .unknown(4000))
            stop.set()
            running.cancel()
        }
    }
}
