import Foundation
import NIOCore
import Synchronization
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// `Hub.trace(_:reader:)` as the console's local source calls it: in place before its first
/// line, bounded by `max-traces`, ended by the reader going.
@Suite("Traces in process")
struct TraceTests {
    @Test func aChannelTraceStartsFirstSeesPublishesAndEndsWhenTheReaderCancels() async throws {
        try await TestServer.with { server in
            let hub = server.hub
            let reader = Task {
                // The stream lives in the reader's task: when the reader is done, it is gone.
                let stream = try hub.trace(.channel("news"), reader: "console")
                var seen: [TraceMessage] = []
                for await message in stream {
                    seen.append(message)
                    if case .line(_, let line) = message, line.kind == .publish { break }
                }
                return seen
            }
            let client = try await TestClient.connect(server.url)
            _ = try await client.next(where: { $0.contains("welcome") })
            // Published until the trace is in place (started) and sees one.
            let publisher = Task {
                var n = 0
                while !Task.isCancelled {
                    n += 1
                    try await client.send(#"{"type":"publish","channel":"news","data":\#(n)}"#)
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let seen = try await reader.value
            publisher.cancel()
            #expect(seen.first == .started(trace: "t1", target: .channel("news")))
            guard case .line(_, let line) = seen.last else { throw TestFailure("no line: \(seen)") }
            #expect(line.channel == "news" && line.client?.hasPrefix("c") == true && line.seq != nil)
            // The reader left (its loop broke and the stream is gone): the trace ends.
            try await server.eventually("the trace to end") { hub.runningTraces == 0 }
            try await client.close()
        }
    }

    @Test func oneTraceOverMaxTracesIsRefusedAndCancellingFreesItsSlot() async throws {
        try await TestServer.with(
            { $0.hub.maxTraces = 1 },
            body: { server in
                let hub = server.hub
                let stream = try hub.trace(.user("ann"), reader: "console")
                do throws(TraceRefusal) {
                    _ = try hub.trace(.client("c1"), reader: "console")
                    Issue.record("a second trace started past max-traces 1")
                } catch {
                    #expect(error.code == "too_many_traces" && error.message.contains("max-traces 1"))
                }
                let first = Mutex<TraceMessage?>(nil)
                let reader = Task {
                    for await message in stream { first.withLock { $0 = $0 ?? message } }
                }
                try await server.eventually("the trace in place") { first.withLock { $0 } != nil }
                #expect(first.withLock { $0 } == .started(trace: "t1", target: .user("ann")))
                reader.cancel()
                await reader.value
                try await server.eventually("the slot freed") { hub.runningTraces == 0 }
                _ = try hub.trace(.channel("x"), reader: "console")
            })
    }
}
