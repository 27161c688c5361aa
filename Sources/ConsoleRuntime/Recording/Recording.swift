import ConsoleModel
import Foundation
public import SwitchboardCore

/// A recording read back (``SessionRecorder`` writes it): what the console received, by time.
///
/// The file is gzip JSON lines: a header `{"type":"recording","format":1,"server":…,"started":…}`,
/// then `{"t":…,"event_count":N,"query":…,"snapshot":…}` for each snapshot (the client window
/// it was made for; its events left out: they are the `{"t":…,"event":…}` lines, each once), `{"t":…,"trace":…}` for trace messages
/// and `{"t":…,"dropped":N}` when the disk fell behind. Lines it does not know are skipped.
public struct Recording: Sendable {
    /// The newest format this build reads.
    public static let format = 1

    /// One recorded snapshot: the console's beat.
    struct Beat: Sendable {
        var time: Double
        /// The snapshot's JSON, decoded when shown.
        var json: ArraySlice<UInt8>
        /// The client window it was made for (nil: not recorded).
        var query: ArraySlice<UInt8>?
        /// How many events it listed, and how many event lines came before it.
        var eventCount: Int
        var eventsBefore: Int
    }

    /// A trace message and when the console received it.
    public struct RecordedTrace: Sendable, Equatable {
        public var time: Double
        public var message: TraceMessage
    }

    /// Where a damaged recording stops.
    public struct Damage: Sendable, Equatable, CustomStringConvertible {
        /// The time of the last line read (nil: none was).
        public var after: Double?
        /// The first line that could not be read, from 1.
        public var line: Int
        public var reason: String

        public var description: String {
            "recording damaged after \(after.map(Format.clock) ?? "its header") (line \(line)): \(reason)"
        }
    }

    /// The `server` of the header: the attached URL, or the local server's address.
    public var server: String
    /// When recording started, seconds since 1970.
    public var started: Double
    public private(set) var traces: [RecordedTrace] = []
    public private(set) var damage: Damage?
    /// How many lines the recorder had to leave out.
    public private(set) var dropped = 0
    var beats: [Beat] = []
    var events: [HubEvent] = []
    /// The time of the last line read.
    private var lastTime: Double?

    /// The times of the recorded snapshots, ascending.
    public var beatTimes: [Double] { beats.map(\.time) }

    /// Reads the recording at `path`; a file that is not one, or is of a newer format, is an
    /// error in one line. Damage after the header is not an error: see ``damage``.
    public init(path: String) throws(RecordingError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecordingError("cannot read \(path)")
        }
        try self.init(bytes: Array(data), name: path)
    }

    init(bytes: [UInt8], name: String) throws(RecordingError) {
        guard GzipReader.isGzip(bytes) else { throw RecordingError("\(name) is not a Switchboard recording (not a gzip file)") }
        let file: GzipReader
        do {
            file = try GzipReader(bytes)
        } catch {
            throw RecordingError("\(name): cannot inflate: \(error)")
        }
        guard let first = file.lines.first, let header = try? JSONObject(parsing: Array(first)), header.string("type") == "recording" else {
            throw RecordingError("\(name) is not a Switchboard recording (no recording header)")
        }
        guard let format = header.int("format"), format <= Self.format else {
            throw RecordingError(
                "\(name) is a format \(header.int("format").map(String.init) ?? "?") recording; this switchboard (\(SwitchboardVersion.current)) reads format \(Self.format): replay it with a newer one"
            )
        }
        server = header.string("server") ?? "?"
        started = header.string("started").flatMap(TraceLine.parseISOTime) ?? 0
        for (index, line) in file.lines.enumerated().dropFirst() {
            if let reason = read(line) {
                damage = Damage(after: lastTime, line: index + 1, reason: reason)
                return
            }
        }
        if let reason = file.damage { damage = Damage(after: lastTime, line: file.lines.count + 1, reason: reason) }
    }

    /// Takes one line in; the reason it cannot, if so.
    private mutating func read(_ line: ArraySlice<UInt8>) -> String? {
        guard let object = try? JSONObject(parsing: Array(line)) else { return "not a JSON object" }
        guard let text = object.string("t"), let time = TraceLine.parseISOTime(text) else { return "no time (\"t\")" }
        lastTime = time
        if let snapshot = object.raw("snapshot") {
            beats.append(
                Beat(time: time, json: snapshot, query: object.raw("query"), eventCount: object.int("event_count") ?? 0, eventsBefore: events.count))
        } else if let raw = object.raw("event") {
            guard let event = try? RemoteSource.decoder.decode(HubEvent.self, from: Data(raw)) else { return "an event that does not decode" }
            events.append(event)
        } else if let raw = object.raw("trace") {
            guard let message = TraceMessage(json: raw) else { return "a trace message that does not decode" }
            traces.append(RecordedTrace(time: time, message: message))
        } else if let count = object.int("dropped") {
            dropped += count
        }
        return nil
    }

    /// The snapshot of beat `index`, with the events it listed when it was received and, for a
    /// `query` that orders or narrows the clients otherwise than the recorded one, the recorded
    /// rows filtered and sorted its way (exact when the recorded window held every client).
    func snapshot(_ index: Int, for query: ClientQuery? = nil) -> DashboardSnapshot? {
        guard beats.indices.contains(index) else { return nil }
        let beat = beats[index]
        guard var snapshot = try? RemoteSource.decoder.decode(DashboardSnapshot.self, from: Data(beat.json)) else { return nil }
        snapshot.events = Array(events[max(0, beat.eventsBefore - beat.eventCount)..<beat.eventsBefore])
        let recorded = beat.query.flatMap { try? RemoteSource.decoder.decode(ClientQuery.self, from: Data($0)) }
        if let query, let recorded, !Self.listsClientsAlike(query, recorded) {
            snapshot.clients = query.window(snapshot.clients.rows)
        }
        return snapshot
    }

    /// Whether two queries list the same clients in the same order (their windows may differ).
    private static func listsClientsAlike(_ a: ClientQuery, _ b: ClientQuery) -> Bool {
        a.sort == b.sort && a.descending == b.descending && a.filter == b.filter && a.channel == b.channel && a.id == b.id && a.user == b.user
    }
}

/// A recording that cannot be written or read, in one line.
public struct RecordingError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
