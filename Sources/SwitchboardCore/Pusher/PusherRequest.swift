/// A message a Pusher client sends: `{"event":"…","channel":"…","data":…}`, decoded.
public enum PusherRequest: Equatable, Sendable {
    /// `pusher:ping`: answer `pusher:pong`.
    case ping
    /// `pusher:pong`: the answer to our ping.
    case pong
    /// `pusher:subscribe`; `channelData` is the exact string sent (presence), never re-serialised.
    case subscribe(channel: String, auth: String?, channelData: String?)
    /// `pusher:unsubscribe`.
    case unsubscribe(channel: String)
    /// `pusher:signin` (user authentication): `userData` is the exact string sent.
    case signin(auth: String, userData: String)
    /// A `client-*` event to relay; `data` is the value's exact bytes.
    case clientEvent(event: String, channel: String, data: [UInt8])

    /// Why a message could not be decoded; the client gets a `pusher:error` and stays connected.
    public struct Failure: Error, Equatable, Sendable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    /// Longest event name accepted.
    public static let maxEventNameLength = 200

    /// Decodes one text message (valid UTF-8).
    public static func decode(_ bytes: [UInt8]) -> Result<PusherRequest, Failure> {
        let message: JSONObject
        do {
            message = try JSONObject(parsing: bytes)
        } catch {
            return .failure(Failure("message is not a JSON object: \(error)"))
        }
        guard let event = message.string("event") else { return .failure(Failure("message has no \"event\" string")) }
        switch event {
        case "pusher:ping": return .success(.ping)
        case "pusher:pong": return .success(.pong)
        case "pusher:subscribe", "pusher:unsubscribe":
            guard let data = payload(of: message), let channel = data.string("channel") else {
                return .failure(Failure("\(event) needs data with a \"channel\" string"))
            }
            if event == "pusher:unsubscribe" { return .success(.unsubscribe(channel: channel)) }
            return .success(.subscribe(channel: channel, auth: data.string("auth"), channelData: data.string("channel_data")))
        case "pusher:signin":
            guard let data = payload(of: message), let auth = data.string("auth"), let userData = data.string("user_data") else {
                return .failure(Failure("pusher:signin needs data with \"auth\" and \"user_data\" strings"))
            }
            return .success(.signin(auth: auth, userData: userData))
        default:
            guard event.hasPrefix("client-") else {
                let shown = event.count > 40 ? String(event.prefix(40)) + "…" : event
                return .failure(
                    Failure(
                        "unknown event \"\(shown)\"; clients may send pusher:ping, pusher:subscribe, pusher:unsubscribe, pusher:signin and client-* events"
                    ))
            }
            guard event.utf8.count <= maxEventNameLength else {
                return .failure(Failure("event names are at most \(maxEventNameLength) bytes"))
            }
            guard let channel = message.string("channel") else { return .failure(Failure("client events need a \"channel\"")) }
            guard let data = message.raw("data") else { return .failure(Failure("client events need \"data\"")) }
            return .success(.clientEvent(event: event, channel: channel, data: Array(data)))
        }
    }

    /// `data` as an object; some clients send the object JSON-encoded in a string.
    private static func payload(of message: JSONObject) -> JSONObject? {
        if let text = message.string("data") { return try? JSONObject(parsing: Array(text.utf8)) }
        guard let raw = message.raw("data"), raw.first == UInt8(ascii: "{") else { return nil }
        return try? JSONObject(parsing: Array(raw))
    }
}

/// The member a presence subscription's `channel_data` describes:
/// `{"user_id":"…","user_info":{…}}` (a numeric `user_id` is kept as its digits).
public struct PresenceMember: Equatable, Sendable {
    public var userID: String
    /// The exact bytes of `user_info`, if any.
    public var info: [UInt8]?

    /// Largest `user_info` accepted, in bytes (Pusher's limit): every member's info is sent to
    /// every new subscriber of the channel.
    public static let maxInfoBytes = 1024

    public init(userID: String, info: [UInt8]?) {
        self.userID = userID
        self.info = info
    }

    /// Reads `channel_data`; nil when it is not an object with a string or integer `user_id`.
    public init?(channelData: String) {
        guard let object = try? JSONObject(parsing: Array(channelData.utf8)) else { return nil }
        if let id = object.string("user_id") {
            userID = id
        } else if let id = object.int("user_id") {
            userID = String(id)
        } else {
            return nil
        }
        guard !userID.isEmpty, userID.utf8.count <= 128 else { return nil }
        info = object.raw("user_info").map(Array.init)
    }
}
