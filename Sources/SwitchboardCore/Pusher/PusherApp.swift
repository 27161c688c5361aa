/// One application of the Pusher Channels protocol: its credentials and its limits.
///
/// An app's channels live in the hub under `"<app id>:<name>"`, so apps never see each other's
/// channels and a native client reaches an app's public channel `news` as `"<app id>:news"`
/// (Pusher names cannot contain `:`, so the mapping is one to one).
public struct PusherApp: Sendable, Equatable {
    /// The app id of the REST API's paths (`/apps/{id}/…`).
    public var id: String
    /// The public key clients connect with (`/app/{key}`).
    public var key: String
    /// The shared secret of signatures; never shown or logged.
    public var secret: String
    /// Most connections of this app at once (0: only the server's limit); more close with 4004.
    public var maxConnections = 0
    /// Whether `client-*` events may be sent by clients on private and presence channels.
    public var clientEvents = true
    /// Client events per second per connection (more are refused with error 4301).
    public var clientEventRate = 10.0
    /// Most distinct users in one presence channel.
    public var maxPresenceMembers = 100
    /// Largest event `data`, in bytes, from the REST API or a client event.
    public var maxEventBytes = 10 * 1024
    /// URLs that receive this app's webhooks (empty: none).
    public var webhooks: [String] = []

    public init(id: String, key: String, secret: String) {
        self.id = id
        self.key = key
        self.secret = secret
    }

    /// The hub channel that carries this app's channel `name`.
    public func hubChannel(_ name: String) -> String { id + ":" + name }

    /// This app's name for a hub channel, or nil when the channel is not one of the app's.
    public func channelName(ofHubChannel channel: String) -> String? {
        guard channel.utf8.count > id.utf8.count, channel.hasPrefix(id), channel.utf8.dropFirst(id.utf8.count).first == UInt8(ascii: ":") else {
            return nil
        }
        return String(channel.utf8.dropFirst(id.utf8.count + 1))
    }

    /// Whether `text` can be an app id or key: 1–64 bytes of `A-Z a-z 0-9 _ -`.
    public static func isValidIdentifier(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }
}

/// Pusher channel names and what their prefixes mean.
public enum PusherChannel {
    /// What a channel's name makes it.
    public enum Kind: Sendable, Equatable {
        case `public`
        /// `private-…`: subscribing needs a signature from the app's backend.
        case `private`
        /// `presence-…`: signed, and the subscriber joins as a user others can see.
        case presence
        /// `private-encrypted-…`: signed; payloads are end-to-end encrypted by the clients.
        case privateEncrypted

        public init(name: String) {
            if name.hasPrefix("private-encrypted-") {
                self = .privateEncrypted
            } else if name.hasPrefix("private-") {
                self = .private
            } else if name.hasPrefix("presence-") {
                self = .presence
            } else {
                self = .public
            }
        }

        /// Whether subscribing needs an `auth` signature.
        public var needsSignature: Bool { self != .public }
    }

    /// The longest accepted name, in bytes (Pusher's limit).
    public static let maxLength = 164

    /// Whether `name` is a valid Pusher channel name: 1–164 bytes of `A-Z a-z 0-9 _ - = @ , . ;`.
    public static func isValid(_ name: String) -> Bool {
        var count = 0
        for byte in name.utf8 {
            count += 1
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "="), UInt8(ascii: "@"), UInt8(ascii: ","), UInt8(ascii: "."),
                UInt8(ascii: ";"):
                continue
            default: return false
            }
        }
        return (1...maxLength).contains(count)
    }
}
