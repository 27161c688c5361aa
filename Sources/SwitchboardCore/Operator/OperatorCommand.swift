/// An operator's action on the hub, whichever way it arrived: an admin API route, an admin
/// stream command, the local console, the attached console or a CLI verb (which goes through the
/// admin API). Every entry point builds one of these and hands it to the hub's one `perform`.
///
/// The wire form is the admin stream's command object (`{"type":"broadcast","data":…}`,
/// `{"type":"publish","channel":…,"data":…}`, `{"type":"kick","client":…}` /
/// `"user":…` / `"channel":…` / `"all":true`, with `"reason"` and `"reconnect"`); the admin API's bodies are
/// the same objects without `type`. `data` is kept as the exact JSON bytes the operator sent, so
/// a number or a string reaches clients byte for byte (this is why the type is parsed and written
/// with ``JSONObject`` rather than `Codable`, which would re-encode it).
public enum OperatorCommand: Sendable, Equatable {
    /// `{"type":"broadcast","data":…,"from":"operator"}` to every client (Pusher clients get
    /// event `switchboard:broadcast`).
    case broadcast(data: [UInt8])
    /// A channel message from `from` (`operator` for a broadcast to one channel, `api` for
    /// `POST /api/publish`), exactly as if a client had published it; with an idempotency key,
    /// not published again when a publish with that key already was (see ``IdempotencyKeys``).
    case publish(channel: String, data: [UInt8], from: String, idempotencyKey: String? = nil)
    /// Closes clients: 4000 (kicked, do not reconnect) or, with `reconnect`, 4200.
    case kick(KickTarget, reason: String, reconnect: Bool)

    /// Who a kick closes.
    public enum KickTarget: Sendable, Equatable {
        case client(String)
        /// Every connection of this user (its token's `sub`, or its Pusher signed-in user), on
        /// every node.
        case user(String)
        case channel(String)
        case all
    }

    /// The reason a kick carries when the operator gave none.
    public static func defaultKickReason(reconnect: Bool) -> String {
        reconnect ? "reconnect" : "kicked by operator"
    }

    /// A kick with the default reason unless `reason` is given.
    public static func kick(_ target: KickTarget, reason: String? = nil, reconnect: Bool = false) -> OperatorCommand {
        .kick(target, reason: reason ?? defaultKickReason(reconnect: reconnect), reconnect: reconnect)
    }

    /// The command's `type` on the admin stream.
    public var type: String {
        switch self {
        case .broadcast: "broadcast"
        case .publish(_, _, let from, _): from == "operator" ? "broadcast" : "publish"
        case .kick: "kick"
        }
    }

    // MARK: - Wire form

    /// Reads a command of kind `type` (`broadcast`, `publish` or `kick`) from its JSON object.
    /// A `broadcast` with a `channel` is a publish from `operator`; a `publish` is from `from`.
    public init(type: String, _ object: JSONObject, publishFrom from: String = "operator") throws(OperatorFailure) {
        switch type {
        case "broadcast":
            let data = try Self.data(in: object)
            if object.has("channel") {
                self = .publish(channel: try Self.channel(in: object), data: data, from: "operator")
            } else {
                self = .broadcast(data: data)
            }
        case "publish":
            let channel = try Self.channel(in: object)
            self = .publish(channel: channel, data: try Self.data(in: object), from: from, idempotencyKey: try Self.idempotencyKey(in: object))
        case "kick":
            let reconnect = object.bool("reconnect") ?? false
            let reason = object.string("reason")
            if let client = object.string("client") {
                self = .kick(.client(client), reason: reason, reconnect: reconnect)
            } else if let user = object.string("user") {
                guard !user.isEmpty else { throw OperatorFailure(.badRequest, "\"user\" must name a user") }
                self = .kick(.user(user), reason: reason, reconnect: reconnect)
            } else if object.has("channel") {
                self = .kick(.channel(try Self.channel(in: object)), reason: reason, reconnect: reconnect)
            } else if object.bool("all") == true {
                self = .kick(.all, reason: reason, reconnect: reconnect)
            } else {
                throw OperatorFailure(
                    .badRequest,
                    "give {\"client\":\"…\"}, {\"user\":\"…\"}, {\"channel\":\"…\"} or {\"all\":true}, optionally with \"reconnect\":true")
            }
        default:
            throw OperatorFailure(.unknownCommand, "unknown command; expected view, broadcast, publish or kick")
        }
    }

    /// The admin stream command, with `id` (a JSON value) when given.
    public func wireJSON(id: String? = nil) -> String {
        var text = "{\"type\":\"\(type)\""
        if let id { text += ",\"id\":\(id)" }
        switch self {
        case .broadcast(let data):
            text += ",\"data\":" + String(decoding: data, as: UTF8.self)
        case .publish(let channel, let data, _, let key):
            text += ",\"channel\":\(JSONText.quoted(channel)),\"data\":" + String(decoding: data, as: UTF8.self)
            if let key { text += ",\"idempotency_key\":\(JSONText.quoted(key))" }
        case .kick(let target, let reason, let reconnect):
            switch target {
            case .client(let client): text += ",\"client\":\(JSONText.quoted(client))"
            case .user(let user): text += ",\"user\":\(JSONText.quoted(user))"
            case .channel(let channel): text += ",\"channel\":\(JSONText.quoted(channel))"
            case .all: text += ",\"all\":true"
            }
            text += ",\"reason\":\(JSONText.quoted(reason)),\"reconnect\":\(reconnect)"
        }
        return text + "}"
    }

    private static func channel(in object: JSONObject) throws(OperatorFailure) -> String {
        guard let channel = object.string("channel"), ChannelName.isValid(channel) else {
            throw OperatorFailure(.invalidChannel, "\"channel\" must be 1-128 bytes of A-Z a-z 0-9 _ . : @ / -")
        }
        return channel
    }

    private static func idempotencyKey(in object: JSONObject) throws(OperatorFailure) -> String? {
        guard object.has("idempotency_key") else { return nil }
        guard let key = object.string("idempotency_key"), IdempotencyKeys.isValid(key) else {
            throw OperatorFailure(.badRequest, IdempotencyKeys.rule)
        }
        return key
    }

    private static func data(in object: JSONObject) throws(OperatorFailure) -> [UInt8] {
        guard let data = object.raw("data") else { throw OperatorFailure(.missingData, "\"data\" (any JSON value) is required") }
        return Array(data)
    }
}

/// Why an operator command was not carried out: a code for programs, a message for people.
public struct OperatorFailure: Error, Sendable, Equatable {
    /// The machine-readable reason, as the admin API's `error.code`.
    public struct Code: RawRepresentable, Sendable, Equatable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let badRequest = Code(rawValue: "bad_request")
        public static let invalidChannel = Code(rawValue: "invalid_channel")
        /// A command that is not a JSON object (the admin API's `invalid_json`).
        public static let invalidJSON = Code(rawValue: "invalid_json")
        public static let missingData = Code(rawValue: "missing_data")
        public static let notFound = Code(rawValue: "not_found")
        /// Too much at once: the admin stream's bounded command queue is full (the native
        /// protocol's `overloaded`).
        public static let overloaded = Code(rawValue: "overloaded")
        public static let unknownCommand = Code(rawValue: "unknown_command")
        public static let unavailable = Code(rawValue: "unavailable")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// What an operator command did.
public enum OperatorResult: Sendable, Equatable {
    /// A broadcast reached this many clients; `missing` names the live nodes of a cluster that
    /// did not answer in time (their clients may or may not have been reached).
    case broadcast(reached: Int, missing: [String] = [])
    /// A channel message was numbered `seq` and reached this many subscribers; `duplicate` when
    /// its idempotency key had been published with before, as `seq`, and nothing was sent now.
    case published(channel: String, seq: UInt64, reached: Int, duplicate: Bool = false)
    /// This many clients are being closed; `missing` as for a broadcast.
    case kicked(Int, missing: [String] = [])
    /// Nothing was done, and why.
    case failed(OperatorFailure)

    /// The result's members as JSON object members: `"reached":…`, `"channel":…,"seq":…,
    /// "reached":…` or `"kicked":…`, with `"partial":true,"missing":[…]` when live nodes did
    /// not answer (the admin API's bodies and the admin stream's `result`).
    public var jsonMembers: String {
        switch self {
        case .broadcast(let reached, let missing): "\"reached\":\(reached)" + Self.partial(missing)
        case .published(let channel, let seq, let reached, let duplicate):
            "\"channel\":\(JSONText.quoted(channel)),\"seq\":\(seq),\"reached\":\(reached)" + (duplicate ? ",\"duplicate\":true" : "")
        case .kicked(let count, let missing): "\"kicked\":\(count)" + Self.partial(missing)
        case .failed(let failure): "\"error\":\(JSONText.quoted(failure.message)),\"code\":\"\(failure.code.rawValue)\""
        }
    }

    private static func partial(_ missing: [String]) -> String {
        missing.isEmpty ? "" : ",\"partial\":true,\"missing\":[\(missing.map(JSONText.quoted).joined(separator: ","))]"
    }

    /// Reads a result from the admin stream's `{"type":"result","ok":…}` object.
    public init(result object: JSONObject) {
        let missing = object.strings("missing") ?? []
        if object.bool("ok") != true {
            let code = object.string("code").map(OperatorFailure.Code.init(rawValue:)) ?? .badRequest
            self = .failed(OperatorFailure(code, object.string("error") ?? "failed"))
        } else if let kicked = object.int("kicked") {
            self = .kicked(kicked, missing: missing)
        } else if let channel = object.string("channel") {
            self = .published(
                channel: channel, seq: UInt64(object.int("seq") ?? 0), reached: object.int("reached") ?? 0,
                duplicate: object.bool("duplicate") ?? false)
        } else {
            self = .broadcast(reached: object.int("reached") ?? 0, missing: missing)
        }
    }

    /// One line for a status bar or a terminal, saying what `command` did.
    public func summary(of command: OperatorCommand) -> String {
        switch (self, command) {
        case (.failed(let failure), _): "error: \(failure.message)"
        case (.broadcast(let reached, let missing), _): "broadcast: reached \(reached) clients" + Self.unanswered(missing)
        case (.published(let channel, let seq, _, true), _): "already published to \(channel) as seq \(seq) (same idempotency key): not sent again"
        case (.published(let channel, let seq, let reached, _), .publish(_, _, let from, _)):
            from == "operator"
                ? "broadcast to #\(channel): reached \(reached) subscribers" : "published to \(channel) as seq \(seq), reached \(reached) subscribers"
        case (.published(let channel, _, let reached, _), _): "published to \(channel): reached \(reached) subscribers"
        case (.kicked(let count, _), .kick(.client(let id), let reason, let reconnect)) where count == 1:
            "kicked \(id) (\(reconnect ? 4200 : 4000) \(reason))"
        case (.kicked(let count, let missing), .kick(.user(let user), _, _)):
            "closed \(count) connection\(count == 1 ? "" : "s") of \(user)" + Self.unanswered(missing)
        case (.kicked(let count, let missing), _): "kicked \(count) clients" + Self.unanswered(missing)
        }
    }

    private static func unanswered(_ missing: [String]) -> String {
        missing.isEmpty ? "" : " (no answer from \(missing.joined(separator: ", ")): not known there)"
    }
}
