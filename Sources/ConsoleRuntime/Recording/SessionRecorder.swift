import ConsoleModel
import Dispatch
import Foundation
public import Synchronization
public import SwitchboardCore
import SwitchboardServer

/// Records what a console receives — snapshots, their events, trace messages — to a gzip file of
/// JSON lines (the format is described on ``Recording``), without ever making the console wait:
/// ``record(snapshot:)`` and ``record(trace:)`` put the value on a bounded queue and return; a
/// thread of its own encodes, compresses and writes, syncing the file after each batch. When
/// the disk cannot keep up the queue drops what does not fit and the file says how much.
///
/// The recording stays under `maxSize` bytes on disk: when `FILE` reaches half of it, it is
/// finished and becomes `FILE.1` (the previous `FILE.1`, the oldest part, is dropped) and a new
/// `FILE` starts with its own header, so each part replays on its own.
public final class SessionRecorder: Sendable {
    /// `--record-max-size` when not given: 256 MiB.
    public static let defaultMaxSize = 256 << 20
    /// The smallest `--record-max-size` that leaves room for a snapshot per part.
    public static let minimumMaxSize = 64 << 10
    /// Values waiting for the writer beyond this many are dropped (and counted).
    static let queueCapacity = 256

    enum Item {
        case snapshot(DashboardSnapshot, query: ClientQuery?, time: Double)
        case trace(TraceMessage, time: Double)
    }

    public let path: String
    private let queue = Mutex<(items: [Item], closed: Bool, dropped: Int)>(([], false, 0))
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// Why the recording stopped early (a write failed), if it did.
    private let failureMessage = Mutex<String?>(nil)

    /// Starts recording to `path` (replacing it); `server` names what is recorded in the header.
    public init(path: String, server: String, maxSize: Int = defaultMaxSize) throws(RecordingError) {
        self.path = path
        let loop: RecorderLoop
        do {
            loop = try RecorderLoop(path: path, server: server, partSize: max(Self.minimumMaxSize, maxSize) / 2)
        } catch let error as RecordingError {
            throw error
        } catch {
            throw RecordingError("cannot record to \(path): \(error)")
        }
        let thread = Thread { [self] in self.drain(loop) }
        thread.name = "recorder"
        thread.start()
    }

    /// Records a snapshot the console received (its new events become event lines) and the
    /// client window it asked for, when known (a replay with another sort or filter then knows
    /// which rows it has).
    public func record(snapshot: DashboardSnapshot, query: ClientQuery? = nil) {
        enqueue(.snapshot(snapshot, query: query, time: WallClock.now()))
    }

    /// Records a trace message the console received.
    public func record(trace: TraceMessage) {
        enqueue(.trace(trace, time: WallClock.now()))
    }

    /// Values dropped because the writer fell behind.
    public var dropped: Int { queue.withLock { $0.dropped } }

    /// Why recording stopped before ``close()``, if it did (the file keeps what was written).
    public var failure: String? { failureMessage.withLock { $0 } }

    /// Writes what is queued, ends the gzip stream and closes the file; waits for it.
    public func close() {
        let first = queue.withLock { queue in
            defer { queue.closed = true }
            return !queue.closed
        }
        guard first else { return }
        wake.signal()
        finished.wait()
    }

    private func enqueue(_ item: Item) {
        let queued = queue.withLock { queue in
            guard !queue.closed else { return false }
            guard queue.items.count < Self.queueCapacity else {
                queue.dropped += 1
                return false
            }
            queue.items.append(item)
            return true
        }
        if queued { wake.signal() }
    }

    /// The writer thread: takes everything queued, writes it, syncs, until a batch taken after
    /// ``close()`` (or a write that fails) ends the file.
    private func drain(_ loop: RecorderLoop) {
        var reported = 0
        while true {
            wake.wait()
            let (items, closed, dropped) = queue.withLock { queue in
                defer { queue.items.removeAll(keepingCapacity: true) }
                return (queue.items, queue.closed, queue.dropped)
            }
            do {
                for item in items { try loop.write(item) }
                if dropped > reported {
                    try loop.writeDropped(dropped - reported)
                    reported = dropped
                }
                try loop.flush()
                if closed { try loop.finish() }
            } catch {
                failureMessage.withLock { $0 = "recording to \(path) stopped: \(error)" }
                queue.withLock { $0.closed = true }
                try? loop.finish()
                finished.signal()
                return
            }
            if closed {
                finished.signal()
                return
            }
        }
    }
}

/// The writer thread's state: the open part, the last snapshot and event written. Made in the
/// recorder's initialiser, then used by the writer thread alone.
private final class RecorderLoop: @unchecked Sendable {
    let path: String
    let server: String
    let partSize: Int
    var part = 1
    var writer: GzipLineWriter
    var lastSnapshot: DashboardSnapshot?
    var lastEvent: UInt64 = 0

    init(path: String, server: String, partSize: Int) throws {
        self.path = path
        self.server = server
        self.partSize = partSize
        writer = try GzipLineWriter(path: path)
        try writeHeader()
    }

    private func writeHeader() throws {
        try line(
            "{\"type\":\"recording\",\"format\":\(Recording.format),\"server\":\(JSONText.quoted(server)),\"started\":\"\(TraceLine.isoTime(WallClock.now()))\","
                + "\"part\":\(part),\"version\":\(JSONText.quoted(SwitchboardVersion.current))}")
        try writer.flush()
    }

    private func line(_ text: String) throws {
        try writer.append(line: text.utf8)
    }

    func write(_ item: SessionRecorder.Item) throws {
        switch item {
        case .snapshot(var snapshot, let query, let time):
            guard snapshot != lastSnapshot else { return }  // the same snapshot asked for twice
            lastSnapshot = snapshot
            let t = "{\"t\":\"\(TraceLine.isoTime(time))\","
            // A server that restarted numbers its events from 1 again: they are all new.
            if let newest = snapshot.events.last?.sequence, newest < lastEvent { lastEvent = 0 }
            for event in snapshot.events where event.sequence > lastEvent {
                try line(t + "\"event\":" + String(decoding: try AdminAPI.encoder.encode(event), as: UTF8.self) + "}")
                lastEvent = event.sequence
            }
            let eventCount = snapshot.events.count
            snapshot.events = []
            let window = try query.map { ",\"query\":" + String(decoding: try AdminAPI.encoder.encode($0), as: UTF8.self) } ?? ""
            try line(
                t + "\"event_count\":\(eventCount)\(window),\"snapshot\":" + String(decoding: try AdminAPI.encoder.encode(snapshot), as: UTF8.self)
                    + "}")
        case .trace(let message, let time):
            try line("{\"t\":\"\(TraceLine.isoTime(time))\",\"trace\":\(message.json)}")
        }
    }

    func writeDropped(_ count: Int) throws {
        try line("{\"t\":\"\(TraceLine.isoTime(WallClock.now()))\",\"dropped\":\(count)}")
    }

    /// Syncs the part to disk; starts the next part when this one is full.
    func flush() throws {
        try writer.flush()
        guard writer.bytesWritten >= partSize else { return }
        try writer.finish()
        let previous = path + ".1"
        if FileManager.default.fileExists(atPath: previous) { try FileManager.default.removeItem(atPath: previous) }
        try FileManager.default.moveItem(atPath: path, toPath: previous)
        writer = try GzipLineWriter(path: path)
        part += 1
        lastSnapshot = nil
        lastEvent = 0
        try writeHeader()
    }

    func finish() throws {
        try writer.finish()
    }
}
