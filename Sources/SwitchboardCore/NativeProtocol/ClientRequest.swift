/// A request a client sends in the native protocol, decoded from one text frame.
///
/// Spans point into the frame's bytes, so `data` and `id` can be forwarded exactly as received.
public struct ClientRequest: Equatable, Sendable {
    /// What the client asks for.
    public enum Kind: Equatable, Sendable {
        /// `{"type":"subscribe","channel":…}`; `presence` is the optional presence flag.
        case subscribe(channel: String, presence: Bool)
        /// `{"type":"unsubscribe","channel":…}`
        case unsubscribe(channel: String)
        /// `{"type":"publish","channel":…,"data":…}`; `data` is the value's exact bytes.
        case publish(channel: String, data: JSONScanner.Span)
        /// `{"type":"presence","channel":…}`: who is present in the channel.
        case presence(channel: String)
        /// `{"type":"ping"}`
        case ping
        /// `{"type":"history","channel":…}`: the channel's recent messages (see ``ClientRequest/since``
        /// and ``ClientRequest/limit``).
        case history(channel: String)
        /// `{"type":"refresh","token":…}`: a new token for the connection, before or after its
        /// `refresh_required`.
        case refresh(token: String)
    }

    public var kind: Kind
    /// The raw JSON of the request's `id` (a string with its quotes, or a number), if any.
    public var id: JSONScanner.Span?
    /// A publish's optional `"event"` name (what Pusher clients see as the event; default
    /// `message`).
    public var event: String?
    /// A `subscribe`'s or `history`'s `"since":{"seq":41,"epoch":"x7Kp"}`: the position to resume
    /// after.
    public var since: StreamPosition?
    /// A `history` request's `"limit"`: at most this many messages.
    public var limit: Int?
    /// A publish's `"idempotency_key"`: a second publish with the same key to the same channel
    /// within `idempotency-ttl` is not published again (see ``IdempotencyKeys``).
    public var idempotencyKey: String?

    public init(
        kind: Kind, id: JSONScanner.Span? = nil, event: String? = nil, since: StreamPosition? = nil, limit: Int? = nil,
        idempotencyKey: String? = nil
    ) {
        self.kind = kind
        self.id = id
        self.event = event
        self.since = since
        self.limit = limit
        self.idempotencyKey = idempotencyKey
    }
}

/// Why a request was refused. Rendered as
/// `{"type":"error","code":"<code>","message":"<message>","id":…}`; the connection stays open.
public struct ProtocolError: Error, Equatable, Sendable {
    /// Machine-readable error slugs. These are part of the protocol: never rename one.
    public enum Code: String, Sendable, CaseIterable {
        /// The frame is not valid JSON.
        case badJSON = "bad_json"
        /// Valid JSON, but not a request object (wrong field types, missing `type`).
        case badRequest = "bad_request"
        /// `type` names no request this server knows.
        case unknownType = "unknown_type"
        /// The request needs a `channel` and has none.
        case missingChannel = "missing_channel"
        /// The channel name breaks the naming rules.
        case invalidChannel = "invalid_channel"
        /// A publish without `data`.
        case missingData = "missing_data"
        /// `id` is neither a string nor a number.
        case invalidID = "invalid_id"
        /// Unsubscribe from a channel the client is not subscribed to.
        case notSubscribed = "not_subscribed"
        /// The client has reached its channel limit.
        case tooManyChannels = "too_many_channels"
        /// The client publishes faster than its token bucket allows.
        case rateLimited = "rate_limited"
        /// The hub cannot take the message right now (a bounded queue is full); retry later.
        case overloaded = "overloaded"
        /// The client's token does not grant the channel (its `channels` claim).
        case forbidden = "forbidden"
        /// The presence channel already holds its limit of users.
        case presenceFull = "presence_full"
        /// The cluster's Redis cannot be reached: nothing was published (or subscribed); retry
        /// later. A refused publish is never delivered afterwards.
        case unavailable = "unavailable"
        /// Messages of a channel were published while this node could not receive them (a Redis
        /// reconnect, or Redis restarted and the channel's numbering began again).
        case messagesLost = "messages_lost"
        /// A `history` request for a channel that keeps no history.
        case noHistory = "no_history"
        /// A `history` request's `since` cannot be served whole: the channel's epoch changed, or
        /// messages after it are no longer kept. Nothing partial is sent.
        case unrecoverable = "unrecoverable"
        /// A `refresh` whose token is missing, not valid, or for another user; the connection
        /// keeps its old expiry.
        case invalidToken = "invalid_token"
    }

    public var code: Code
    public var message: String
    /// The raw JSON id of the request that failed, when it could be read.
    public var id: JSONScanner.Span?

    public init(_ code: Code, _ message: String, id: JSONScanner.Span? = nil) {
        self.code = code
        self.message = message
        self.id = id
    }
}

extension ClientRequest {
    /// Decodes one text frame. `bytes` must already be valid UTF-8.
    public static func decode(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) -> Result<ClientRequest, ProtocolError> {
        var type: (JSONScanner.Span, Bool)?
        var typeIsString = true
        var channel: JSONScanner.Member?
        var data: JSONScanner.Span?
        var id: JSONScanner.Span?
        var idIsValid = true
        var presence: UInt8?
        var event: JSONScanner.Member?
        var since: JSONScanner.Member?
        var limit: JSONScanner.Member?
        var token: JSONScanner.Member?
        var idempotencyKey: JSONScanner.Member?

        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        do {
            try scanner.scanObject { member in
                guard let field = Field(key: member, in: bytes) else { return }
                switch field {
                case .type:
                    typeIsString = member.valueLead == UInt8(ascii: "\"")
                    type = (stringContents(member.value), stringHasEscapes(member.value, in: bytes))
                case .channel: channel = member
                case .data: data = member.value
                case .id:
                    let lead = member.valueLead
                    idIsValid = lead == UInt8(ascii: "\"") || lead == UInt8(ascii: "-") || JSONScanner.isDigit(lead)
                    id = member.value
                case .presence: presence = member.valueLead
                case .event: event = member
                case .since: since = member
                case .limit: limit = member
                case .token: token = member
                case .idempotencyKey: idempotencyKey = member
                }
            }
        } catch let error as JSONScanner.SyntaxError {
            var document = JSONScanner(bytes, maxDepth: maxDepth)
            if (try? document.scanDocument()) != nil {
                return .failure(ProtocolError(.badRequest, "a request must be a JSON object"))
            }
            return .failure(ProtocolError(.badJSON, "message is not valid JSON: \(error)"))
        } catch {
            return .failure(ProtocolError(.badJSON, "message is not valid JSON"))
        }

        guard idIsValid else {
            return .failure(ProtocolError(.invalidID, "\"id\" must be a string or a number"))
        }
        guard let (typeSpan, typeEscaped) = type else {
            return .failure(ProtocolError(.badRequest, "missing \"type\"", id: id))
        }
        guard typeIsString, let typeName = JSONScanner.decodeString(bytes, typeSpan, hasEscapes: typeEscaped) else {
            return .failure(ProtocolError(.badRequest, "\"type\" must be a string", id: id))
        }

        func channelName() -> Result<String, ProtocolError> {
            guard let member = channel else {
                return .failure(ProtocolError(.missingChannel, "\"\(typeName)\" needs a \"channel\"", id: id))
            }
            guard member.valueLead == UInt8(ascii: "\""),
                let name = JSONScanner.decodeString(
                    bytes,
                    stringContents(member.value),
                    hasEscapes: stringHasEscapes(member.value, in: bytes)
                ),
                ChannelName.isValid(name)
            else {
                return .failure(
                    ProtocolError(
                        .invalidChannel,
                        "channel names are 1-\(ChannelName.maxLength) bytes of A-Z a-z 0-9 _ . : @ / -",
                        id: id
                    )
                )
            }
            return .success(name)
        }

        var position: StreamPosition?
        if let since {
            guard let decoded = streamPosition(since, in: bytes) else {
                return .failure(ProtocolError(.badRequest, "\"since\" must be {\"seq\":<number>,\"epoch\":\"<epoch>\"}", id: id))
            }
            position = decoded
        }
        var count: Int?
        if let limit {
            guard let value = integer(limit.value, in: bytes), (1...100_000).contains(value) else {
                return .failure(ProtocolError(.badRequest, "\"limit\" must be a whole number from 1", id: id))
            }
            count = Int(value)
        }

        switch typeName {
        case "subscribe":
            return channelName().map {
                ClientRequest(kind: .subscribe(channel: $0, presence: presence == UInt8(ascii: "t")), id: id, since: position)
            }
        case "history":
            return channelName().map { ClientRequest(kind: .history(channel: $0), id: id, since: position, limit: count) }
        case "unsubscribe":
            return channelName().map { ClientRequest(kind: .unsubscribe(channel: $0), id: id) }
        case "publish":
            return channelName().flatMap { name in
                guard let data else {
                    return .failure(ProtocolError(.missingData, "\"publish\" needs a \"data\" value", id: id))
                }
                var eventName: String?
                if let event {
                    guard event.valueLead == UInt8(ascii: "\""),
                        let decoded = JSONScanner.decodeString(
                            bytes, stringContents(event.value), hasEscapes: stringHasEscapes(event.value, in: bytes)),
                        (1...200).contains(decoded.utf8.count)
                    else {
                        return .failure(ProtocolError(.badRequest, "\"event\" must be a string of 1-200 bytes", id: id))
                    }
                    eventName = decoded
                }
                var key: String?
                if let idempotencyKey {
                    guard idempotencyKey.valueLead == UInt8(ascii: "\""),
                        let decoded = JSONScanner.decodeString(
                            bytes, stringContents(idempotencyKey.value), hasEscapes: stringHasEscapes(idempotencyKey.value, in: bytes)),
                        IdempotencyKeys.isValid(decoded)
                    else {
                        return .failure(ProtocolError(.badRequest, IdempotencyKeys.rule, id: id))
                    }
                    key = decoded
                }
                return .success(ClientRequest(kind: .publish(channel: name, data: data), id: id, event: eventName, idempotencyKey: key))
            }
        case "presence":
            return channelName().map { ClientRequest(kind: .presence(channel: $0), id: id) }
        case "ping":
            return .success(ClientRequest(kind: .ping, id: id))
        case "refresh":
            guard let token, token.valueLead == UInt8(ascii: "\""),
                let text = JSONScanner.decodeString(bytes, stringContents(token.value), hasEscapes: stringHasEscapes(token.value, in: bytes)),
                !text.isEmpty
            else {
                return .failure(ProtocolError(.invalidToken, "\"refresh\" needs a \"token\": the new JWT, as a string", id: id))
            }
            return .success(ClientRequest(kind: .refresh(token: text), id: id))
        default:
            let shown = typeName.count > 32 ? String(typeName.prefix(32)) + "…" : typeName
            return .failure(
                ProtocolError(
                    .unknownType,
                    "unknown type \"\(shown)\"; expected subscribe, unsubscribe, publish, presence, history, ping or refresh",
                    id: id
                )
            )
        }
    }

    /// The top-level keys the decoder reads; anything else is ignored.
    private enum Field {
        case type, channel, data, id, presence, event, since, limit, token, idempotencyKey

        init?(key member: JSONScanner.Member, in bytes: UnsafeRawBufferPointer) {
            let key: String
            if member.keyHasEscapes {
                guard let decoded = JSONScanner.decodeString(bytes, member.key, hasEscapes: true) else { return nil }
                key = decoded
            } else {
                guard member.key.count <= 15 else { return nil }
                key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[member.key.start..<member.key.end]), as: UTF8.self)
            }
            switch key {
            case "type": self = .type
            case "channel": self = .channel
            case "data": self = .data
            case "id": self = .id
            case "presence": self = .presence
            case "event": self = .event
            case "since": self = .since
            case "limit": self = .limit
            case "token": self = .token
            case "idempotency_key": self = .idempotencyKey
            default: return nil
            }
        }
    }

    /// Reads `{"seq":<n>,"epoch":"<text>"}` (both required, other keys ignored).
    private static func streamPosition(_ member: JSONScanner.Member, in bytes: UnsafeRawBufferPointer) -> StreamPosition? {
        guard member.valueLead == UInt8(ascii: "{") else { return nil }
        let object = UnsafeRawBufferPointer(rebasing: bytes[member.value.start..<member.value.end])
        var seq: UInt64?
        var epoch: String?
        var scanner = JSONScanner(object, maxDepth: 4)
        do {
            try scanner.scanObject { field in
                guard !field.keyHasEscapes else { return }
                let key = String(decoding: UnsafeRawBufferPointer(rebasing: object[field.key.start..<field.key.end]), as: UTF8.self)
                switch key {
                case "seq": seq = integer(field.value, in: object)
                case "epoch":
                    guard field.valueLead == UInt8(ascii: "\"") else { return }
                    epoch = JSONScanner.decodeString(object, stringContents(field.value), hasEscapes: stringHasEscapes(field.value, in: object))
                default: break
                }
            }
        } catch {
            return nil
        }
        guard let seq, let epoch, epoch.utf8.count <= 64 else { return nil }
        return StreamPosition(seq: seq, epoch: epoch)
    }

    /// A non-negative JSON integer of at most 18 digits.
    private static func integer(_ span: JSONScanner.Span, in bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard span.count > 0, span.count <= 18 else { return nil }
        var value: UInt64 = 0
        for byte in bytes[span.start..<span.end] {
            guard JSONScanner.isDigit(byte) else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func stringContents(_ value: JSONScanner.Span) -> JSONScanner.Span {
        JSONScanner.Span(start: value.start + 1, end: max(value.start + 1, value.end - 1))
    }

    private static func stringHasEscapes(_ value: JSONScanner.Span, in bytes: UnsafeRawBufferPointer) -> Bool {
        bytes[value.start..<value.end].contains(UInt8(ascii: "\\"))
    }
}
