import ConsoleModel
@testable import ConsoleRuntime
import Foundation
import SwitchboardCore
import Testing

/// Recordings written by the recorder and read back: a real gzip stream, events kept once,
/// damage found where it is, rotation, refusals.
@Suite struct RecordingTests {
    /// A fresh file path in a folder of its own.
    static func path(_ name: String = "session.jsonl.gz") -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recording-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appendingPathComponent(name).path
    }

    /// A snapshot with `connections` clients and events `1...events`.
    static func snapshot(connections: Int, events: Int, padding: String = "") -> DashboardSnapshot {
        var totals = Totals()
        totals.connections = connections
        let log = (1...max(1, events)).map {
            HubEvent(sequence: UInt64($0), time: 1_700_000_000 + Double($0), kind: .connect, client: "c\($0)", detail: padding)
        }
        return DashboardSnapshot(
            server: ServerInfo(version: "test", address: "ws://127.0.0.1:1/ws" + padding, uptimeSeconds: Double(connections)), totals: totals,
            events: Array(log.suffix(events == 0 ? 0 : 100)))
    }

    @Test func snapshotsEventsAndTracesComeBack() async throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test")
        recorder.record(snapshot: Self.snapshot(connections: 1, events: 2))
        recorder.record(snapshot: Self.snapshot(connections: 1, events: 2))  // the same again: not a new beat
        recorder.record(snapshot: Self.snapshot(connections: 2, events: 3))
        let trace = TraceMessage.skipped(trace: "t1", count: 7)
        recorder.record(trace: trace)
        recorder.close()

        let recording = try Recording(path: path)
        #expect(recording.damage == nil)
        #expect(recording.server == "ws://test")
        #expect(recording.beatTimes.count == 2)
        #expect(recording.events.map(\.sequence) == [1, 2, 3])  // each event once
        #expect(recording.traces.map(\.message) == [trace])
        #expect(recording.snapshot(0)?.events.map(\.sequence) == [1, 2])
        #expect(recording.snapshot(1)?.events.map(\.sequence) == [1, 2, 3])
        #expect(recording.snapshot(1)?.totals.connections == 2)
        // A real gzip stream, trailer and all.
        #expect(try Self.run("/bin/gzip", "-t", path) == 0)
    }

    @Test func closeWritesEverythingQueuedAndEndsTheFile() throws {
        // Close races the writer taking a batch: every time, nothing queued is lost and the
        // gzip stream gets its trailer.
        for _ in 0..<30 {
            let path = Self.path()
            let recorder = try SessionRecorder(path: path, server: "ws://test")
            for connections in 1...10 { recorder.record(snapshot: Self.snapshot(connections: connections, events: 1)) }
            recorder.close()
            let recording = try Recording(path: path)
            #expect(recording.damage == nil)
            #expect(recording.beatTimes.count == 10)
        }
    }

    @Test func aRecorderThatIsNotClosedLeavesWhatItWrote() async throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test")
        recorder.record(snapshot: Self.snapshot(connections: 5, events: 1))
        // Each batch is synced: the snapshot can be read back before the recorder closes.
        var recording = try Recording(path: path)
        for _ in 0..<200 where recording.beatTimes.isEmpty {
            try await Task.sleep(for: .milliseconds(25))
            recording = try Recording(path: path)
        }
        #expect(recording.snapshot(0)?.totals.connections == 5)
        #expect(recording.damage?.reason.contains("ends in the middle") == true)
        recorder.close()
        #expect(try Recording(path: path).damage == nil)
    }

    @Test func aTruncatedRecordingOpensUpToTheDamage() async throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test")
        for connections in 1...20 {
            recorder.record(
                snapshot: Self.snapshot(connections: connections, events: connections, padding: String(repeating: "x\(connections)", count: 50)))
        }
        recorder.close()
        let whole = try #require(FileManager.default.contents(atPath: path))
        let cut = Array(whole.prefix(whole.count * 2 / 3))
        let recording = try Recording(bytes: cut, name: "cut")
        let damage = try #require(recording.damage)
        #expect(recording.beatTimes.count > 0 && recording.beatTimes.count < 20)
        #expect(damage.description.hasPrefix("recording damaged after "))
        #expect(damage.description.contains("(line \(damage.line)): "))
        // Garbage in the middle of the deflate data: corrupt, still opens up to there.
        var corrupt = Array(whole)
        for index in (whole.count / 2)..<(whole.count / 2 + 64) { corrupt[index] ^= 0x5A }
        let damaged = try Recording(bytes: corrupt, name: "corrupt")
        #expect(damaged.damage != nil)
        #expect(damaged.beatTimes.count < 20)
    }

    @Test func filesThatAreNotRecordingsAreRefused() throws {
        #expect(throws: RecordingError.self) { try Recording(bytes: Array("hello\n".utf8), name: "x") }
        // A gzip file whose first line is not a recording header.
        let path = Self.path()
        let writer = try GzipLineWriter(path: path)
        try writer.append(line: Array(#"{"type":"something else"}"#.utf8))
        try writer.finish()
        let notOne = #expect(throws: RecordingError.self) { try Recording(path: path) }
        #expect(notOne?.description.contains("not a Switchboard recording") == true)
        // A newer format.
        let newer = Self.path()
        let future = try GzipLineWriter(path: newer)
        try future.append(line: Array(#"{"type":"recording","format":2,"server":"x","started":"2026-12-07T03:00:00.000000Z"}"#.utf8))
        try future.finish()
        let refusal = #expect(throws: RecordingError.self) { try Recording(path: newer) }
        #expect(refusal?.description.contains("format 2") == true)
    }

    @Test func gzipMembersFlushesAndConcatenation() throws {
        let path = Self.path()
        let writer = try GzipLineWriter(path: path)
        try writer.append(line: Array("one".utf8))
        try writer.flush()
        try writer.flush()  // nothing new: no empty flush block, no error
        try writer.append(line: Array("two".utf8))
        try writer.finish()
        try writer.finish()  // again: nothing
        let bytes = Array(try #require(FileManager.default.contents(atPath: path)))
        let once = try GzipReader(bytes)
        #expect(once.lines.map { String(decoding: $0, as: UTF8.self) } == ["one", "two"])
        #expect(once.damage == nil)
        // Two members one after the other read as one file, as zcat reads them.
        let twice = try GzipReader(bytes + bytes)
        #expect(twice.lines.count == 4)
        #expect(twice.damage == nil)
        // Trailing garbage is damage.
        #expect(try GzipReader(bytes + [1, 2, 3]).damage != nil)
    }

    @Test func pastHalfTheMaximumANewPartStarts() throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test", maxSize: SessionRecorder.minimumMaxSize)
        // Snapshots that do not compress away: each carries a different random detail.
        for connections in 1...400 {
            recorder.record(snapshot: Self.snapshot(connections: connections, events: 1, padding: (0..<10).map { _ in UUID().uuidString }.joined()))
            if connections % 50 == 0 { Thread.sleep(forTimeInterval: 0.05) }  // let the writer keep up
        }
        recorder.close()
        let older = try Recording(path: path + ".1")
        let newer = try Recording(path: path)
        #expect(older.damage == nil && newer.damage == nil)
        #expect(!older.beatTimes.isEmpty && !newer.beatTimes.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path + ".2"))
        let sizes = try [path, path + ".1"].map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) }
        #expect(sizes.allSatisfy { $0 < SessionRecorder.minimumMaxSize })  // half of it, and one batch over at most
    }

    @Test func replayRefusesOperatorCommandsAndFollowsItsCursor() async throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test")
        for connections in 1...3 {
            recorder.record(snapshot: Self.snapshot(connections: connections, events: connections))
            try await Task.sleep(for: .milliseconds(10))
        }
        recorder.close()
        let source = ReplaySource(recording: try Recording(path: path), playing: false)
        #expect(await source.snapshot(query: ClientQuery())?.totals.connections == 1)
        source.move(.end)
        #expect(await source.snapshot(query: ClientQuery())?.totals.connections == 3)
        source.move(.step(-1))
        #expect(await source.snapshot(query: ClientQuery())?.totals.connections == 2)
        #expect(await source.perform(.broadcast(data: Array("1".utf8))) == .failed(OperatorFailure(.unavailable, replayRefusal)))
    }

    @Test func anotherSortOrFilterSortsAndFiltersTheRecordedRows() async throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test")
        var snapshot = Self.snapshot(connections: 3, events: 0)
        let rows = (1...3).map { i in
            ClientRow(
                id: "c\(i)", remoteAddress: "10.0.0.\(i):5000", userAgent: i == 2 ? "bot" : "browser", connectedAt: 1_700_000_000,
                lastActivity: 1_700_000_000,
                channels: [], messagesIn: 10 * i, messagesOut: 0, bytesIn: 0, bytesOut: 0, rate: 0,
                mailbox: MailboxCounts(depth: 0, peak: 0, enqueued: 0, dequeued: 0),
                mailboxCapacity: 10)
        }
        let recordedQuery = ClientQuery(limit: 20)
        snapshot.clients = recordedQuery.window(rows)
        recorder.record(snapshot: snapshot, query: recordedQuery)
        recorder.close()
        let source = ReplaySource(recording: try Recording(path: path), playing: false)
        // The recorded view, in another size: the recorded window as it is.
        #expect(await source.snapshot(query: ClientQuery(limit: 5))?.clients.rows.map(\.id) == ["c1", "c2", "c3"])
        #expect(
            await source.snapshot(query: ClientQuery(sort: .messagesIn, descending: true, limit: 20))?.clients.rows.map(\.id) == ["c3", "c2", "c1"])
        let filtered = await source.snapshot(query: ClientQuery(filter: "bot", limit: 20))?.clients
        #expect(filtered?.rows.map(\.id) == ["c2"] && filtered?.total == 1)
    }

    /// A source with nothing to show, to record trace streams through.
    struct Silent: DashboardSource {
        func snapshot(query: ClientQuery) async -> DashboardSnapshot? { nil }
        func perform(_ command: OperatorCommand) async -> OperatorResult { .failed(OperatorFailure(.unavailable, "silent")) }
        func trace(_ target: TraceTarget) -> AsyncStream<TraceMessage> { AsyncStream { $0.finish() } }
    }

    @Test func traceMessagesAreRecordedOnTheirWayAndReplayedInTheirTime() async throws {
        let path = Self.path()
        let recorder = try SessionRecorder(path: path, server: "ws://test")
        let source = RecordingSource(recording: Silent(), to: recorder)
        let target = TraceTarget.channel("news")
        let messages: [TraceMessage] = [
            .started(trace: "t1", target: target), .skipped(trace: "t1", count: 3), .ended(trace: "t1", reason: "reader gone"),
        ]
        let (stream, continuation) = AsyncStream.makeStream(of: TraceMessage.self)
        for message in messages { continuation.yield(message) }
        continuation.finish()
        var passed: [TraceMessage] = []
        for await message in source.recorded(stream) { passed.append(message) }
        #expect(passed == messages)
        recorder.record(snapshot: Self.snapshot(connections: 1, events: 1))  // a beat after the traces
        recorder.close()

        let replay = ReplaySource(recording: try Recording(path: path), playing: false)
        #expect(replay.recording.traces.map(\.message) == messages)
        replay.move(.end)
        var replayed: [TraceMessage] = []
        for await message in replay.trace(target) { replayed.append(message) }
        #expect(replayed == messages)
        #expect(replay.traces(through: replay.status.time).count == 3)
    }

    static func run(_ arguments: String...) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
