#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One thing a trace saw: a frame in or out of a traced client, or a change on a traced channel.
/// Members that do not apply are nil and left out of the JSON.
public struct TraceLine: Sendable, Equatable {
    /// What kind of thing it was.
    public enum Kind: String, Sendable, CaseIterable {
        case request, reply, delivery, ping, pong, close, drop, refused
        case subscribe, unsubscribe, join, leave, publish
        case messagesLost = "messages_lost"
    }

    /// Into the server from a client, or out of it to a client.
    public enum Direction: String, Sendable {
        case `in`, out
    }

    /// Wall-clock time, seconds since 1970 (written as an ISO 8601 UTC time with microseconds).
    public var time: Double
    /// The node that saw it.
    public var node: String
    public var kind: Kind
    public var direction: Direction?
    public var client: String?
    public var user: String?
    public var channel: String?
    public var seq: UInt64?
    /// The frame's size on the wire (payload bytes).
    public var bytes: Int?
    /// The client's outbound mailbox depth after the frame was queued.
    public var mailbox: Int?
    /// Publish → write, on deliveries.
    public var latencyMicros: Int?
    /// A close or refusal code.
    public var code: Int?
    /// The message's `data` JSON text (other frames: the frame's text), as `trace-payloads` keeps it.
    public var data: String?
    /// Whether `data` was cut.
    public var truncated: Bool

    public init(
        time: Double, node: String, kind: Kind, direction: Direction? = nil, client: String? = nil, user: String? = nil,
        channel: String? = nil, seq: UInt64? = nil, bytes: Int? = nil, mailbox: Int? = nil, latencyMicros: Int? = nil,
        code: Int? = nil, data: String? = nil, truncated: Bool = false
    ) {
        self.time = time
        self.node = node
        self.kind = kind
        self.direction = direction
        self.client = client
        self.user = user
        self.channel = channel
        self.seq = seq
        self.bytes = bytes
        self.mailbox = mailbox
        self.latencyMicros = latencyMicros
        self.code = code
        self.data = data
        self.truncated = truncated
    }

    /// What a person reads after the time, node, direction and kind (the console's trace pane,
    /// `switchboard trace` without `--json`): `c1@node-b #news seq 42 user ann code 4002 87 B
    /// mailbox 3 412 µs {"price":10…`, leaving out what does not apply.
    public var details: String {
        var parts: [String] = []
        if let client { parts.append(client) }
        if let channel { parts.append("#" + channel) }
        if let seq { parts.append("seq \(seq)") }
        if let user, user != client { parts.append("user \(user)") }
        if let code { parts.append("code \(code)") }
        if let bytes { parts.append("\(bytes) B") }
        if let mailbox { parts.append("mailbox \(mailbox)") }
        if let latencyMicros { parts.append("\(latencyMicros) µs") }
        if let data { parts.append(data + (truncated ? "…" : "")) }
        return parts.joined(separator: " ")
    }

    /// The members after `"type":"trace","trace":"…",`, in the documented order.
    func jsonMembers() -> String {
        var text = "\"t\":\"\(Self.isoTime(time))\",\"node\":\(JSONText.quoted(node))"
        if let client { text += ",\"client\":\(JSONText.quoted(client))" }
        if let user { text += ",\"user\":\(JSONText.quoted(user))" }
        if let direction { text += ",\"dir\":\"\(direction.rawValue)\"" }
        text += ",\"kind\":\"\(kind.rawValue)\""
        if let channel { text += ",\"channel\":\(JSONText.quoted(channel))" }
        if let seq { text += ",\"seq\":\(seq)" }
        if let code { text += ",\"code\":\(code)" }
        if let bytes { text += ",\"bytes\":\(bytes)" }
        if let mailbox { text += ",\"mailbox\":\(mailbox)" }
        if let latencyMicros { text += ",\"latency_us\":\(latencyMicros)" }
        if let data { text += ",\"data\":\(JSONText.quoted(data))" }
        if truncated { text += ",\"truncated\":true" }
        return text
    }

    /// The line in `object`, as ``jsonMembers()`` writes it (nil when `t`, `node` or `kind` is
    /// missing or unknown).
    init?(json object: JSONObject) {
        guard let iso = object.string("t"), let time = Self.parseISOTime(iso), let node = object.string("node"),
            let kind = object.string("kind").flatMap(Kind.init(rawValue:))
        else { return nil }
        self.init(
            time: time, node: node, kind: kind, direction: object.string("dir").flatMap(Direction.init(rawValue:)),
            client: object.string("client"), user: object.string("user"), channel: object.string("channel"),
            seq: object.int("seq").map { UInt64(clamping: $0) }, bytes: object.int("bytes"), mailbox: object.int("mailbox"),
            latencyMicros: object.int("latency_us"), code: object.int("code"), data: object.string("data"),
            truncated: object.bool("truncated") ?? false)
    }

    /// `2026-12-07T04:12:03.123456Z`.
    public static func isoTime(_ seconds: Double) -> String {
        var whole = time_t(seconds.rounded(.down))
        let micros = Int(((seconds - Double(whole)) * 1_000_000).rounded(.down))
        var parts = tm()
        gmtime_r(&whole, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = String(micros)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):"
            + "\(two(parts.tm_sec)).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)Z"
    }

    /// Seconds since 1970 from `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
    public static func parseISOTime(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z"), bytes[4] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T") else { return nil }
        func number(_ range: Range<Int>) -> Int32? { Int32(String(decoding: bytes[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let whole = timegm(&parts)
        var fraction = 0.0
        if bytes.count > 21, bytes[19] == UInt8(ascii: ".") {
            let digits = bytes[20..<(bytes.count - 1)]
            guard let value = Double("0." + String(decoding: digits, as: UTF8.self)) else { return nil }
            fraction = value
        }
        return Double(whole) + fraction
    }
}
