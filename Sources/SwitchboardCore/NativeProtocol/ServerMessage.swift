public import NIOCore

/// Encoders for every frame the server sends in the native protocol, as complete WebSocket text
/// frames (compact JSON, field order fixed).
///
/// `id` arguments are the raw JSON of a request's `id`, echoed verbatim.
public enum ServerMessage {
    /// `{"type":"welcome","client":"<id>","server":"switchboard/<version>","heartbeat_s":15}`, with
    /// `"user":"<sub>"` after the client id when the client authenticated with a token, and
    /// `"expires_in":<seconds>` at the end when its token expires.
    public static func welcome(
        client: String, user: String? = nil, version: String, heartbeatSeconds: Int, expiresIn: Int? = nil, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        frame(allocator, capacity: 112 + client.utf8.count + (user?.utf8.count ?? 0) * 6) { buffer in
            buffer.writeStaticString("{\"type\":\"welcome\",\"client\":\"")
            buffer.writeString(client)
            if let user {
                buffer.writeStaticString("\",\"user\":")
                buffer.writeString(JSONText.quoted(user))
                buffer.writeStaticString(",\"server\":\"switchboard/")
            } else {
                buffer.writeStaticString("\",\"server\":\"switchboard/")
            }
            buffer.writeString(version)
            buffer.writeStaticString("\",\"heartbeat_s\":")
            buffer.writeString(String(heartbeatSeconds))
            writeExpiresIn(expiresIn, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"refresh_required"}`: the connection's token has expired; the client has the
    /// refresh grace to send `refresh` with a new one before it is closed with 4003.
    public static func refreshRequired(allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 32) { $0.writeStaticString("{\"type\":\"refresh_required\"}") }
    }

    /// `{"type":"refreshed","expires_in":3600}`: a `refresh` was accepted (no `expires_in` when the
    /// new token never expires; with `"id"` when the request had one).
    public static func refreshed(expiresIn: Int?, id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 48 + (id?.readableBytes ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"refreshed\"")
            writeExpiresIn(expiresIn, into: &buffer)
            writeID(id, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    private static func writeExpiresIn(_ seconds: Int?, into buffer: inout ByteBuffer) {
        guard let seconds else { return }
        buffer.writeStaticString(",\"expires_in\":")
        buffer.writeString(String(seconds))
    }

    /// `{"type":"subscribed","channel":"news"}` (with `"id"` when the request had one).
    public static func subscribed(channel: String, id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        channelReply("subscribed", channel: channel, id: id, allocator: allocator)
    }

    /// `{"type":"subscribed","channel":"news","recovered":true,"seq":41,"epoch":"x7Kp"}`: the reply
    /// for a channel with history, with its position; `recovered` only when the request asked to
    /// resume (`since`).
    public static func subscribed(
        channel: String, id: ByteBuffer?, position: StreamPosition, recovered: Bool?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        frame(allocator, capacity: 96 + channel.utf8.count + position.epoch.utf8.count * 2 + (id?.readableBytes ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"subscribed\",\"channel\":\"")
            buffer.writeString(channel)
            buffer.writeStaticString("\"")
            writeID(id, into: &buffer)
            if let recovered { buffer.writeStaticString(recovered ? ",\"recovered\":true" : ",\"recovered\":false") }
            writePosition(position, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"history","channel":"news","epoch":"x7Kp","seq":41,"messages":[…]}`: `messages`
    /// are the kept `message` frames' JSON, oldest first.
    public static func history(
        channel: String, position: StreamPosition, messages: [ChannelHistory.Entry], id: ByteBuffer?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let size = messages.reduce(0) { $0 + $1.frame.readableBytes + 1 }
        return frame(allocator, capacity: 96 + size + channel.utf8.count + (id?.readableBytes ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"history\",\"channel\":\"")
            buffer.writeString(channel)
            buffer.writeStaticString("\"")
            writeID(id, into: &buffer)
            writePosition(position, into: &buffer)
            buffer.writeStaticString(",\"messages\":")
            writeMessages(messages, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// Writes kept messages as a JSON array of their `message` objects.
    public static func writeMessages(_ messages: [ChannelHistory.Entry], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("[")
        for (index, entry) in messages.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeImmutableBuffer(WireFrame.payload(of: entry.frame))
        }
        buffer.writeStaticString("]")
    }

    private static func writePosition(_ position: StreamPosition, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(",\"seq\":")
        buffer.writeString(String(position.seq))
        buffer.writeStaticString(",\"epoch\":")
        JSONText.writeString(position.epoch, into: &buffer)
    }

    /// `{"type":"unsubscribed","channel":"news"}` (with `"id"` when the request had one).
    public static func unsubscribed(channel: String, id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        channelReply("unsubscribed", channel: channel, id: id, allocator: allocator)
    }

    /// `{"type":"pong"}` (with `"id"` when the ping had one).
    public static func pong(id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 16 + (id?.readableBytes ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"pong\"")
            writeID(id, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"ack","id":…}`: a publish with an id was fanned out.
    public static func ack(id: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 16 + id.readableBytes) { buffer in
            buffer.writeStaticString("{\"type\":\"ack\"")
            writeID(id, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"ack","id":…,"seq":41}`, and `"duplicate":true` when a publish with the same
    /// idempotency key already had that `seq`: the ack of a publish that carried a key.
    public static func ack(id: ByteBuffer, seq: UInt64, duplicate: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 56 + id.readableBytes) { buffer in
            buffer.writeStaticString("{\"type\":\"ack\"")
            writeID(id, into: &buffer)
            buffer.writeStaticString(",\"seq\":")
            buffer.writeString(String(seq))
            if duplicate { buffer.writeStaticString(",\"duplicate\":true") }
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"error","code":"<slug>","message":"<text>","id":…}`
    public static func error(_ error: ProtocolError, id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        self.error(code: error.code.rawValue, message: error.message, id: id, allocator: allocator)
    }

    /// `{"type":"error","code":"<slug>","message":"<text>","id":…}` with a slug the hub does not
    /// define itself (one the application's proxy answered: letters, digits, `_` and `-` only).
    public static func error(code: String, message: String, id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 48 + code.utf8.count + message.utf8.count + (id?.readableBytes ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"error\",\"code\":\"")
            buffer.writeString(code)
            buffer.writeStaticString("\",\"message\":")
            JSONText.writeString(message, into: &buffer)
            writeID(id, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"error","code":"messages_lost","channel":"<channel>","message":"<text>","epoch":"<epoch>","seq":<seq>}`:
    /// sent to a channel's subscribers when messages of it were published but never reached this
    /// node. `seq` (and `epoch`, when the numbering has one) is the channel's position after the
    /// loss: every message with a greater `seq` is new, whatever the subscriber saw before.
    public static func messagesLost(channel: String, message: String, epoch: String?, seq: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 96 + channel.utf8.count + message.utf8.count + (epoch?.utf8.count ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"error\",\"code\":\"messages_lost\",\"channel\":")
            JSONText.writeString(channel, into: &buffer)
            buffer.writeStaticString(",\"message\":")
            JSONText.writeString(message, into: &buffer)
            if let epoch {
                buffer.writeStaticString(",\"epoch\":")
                JSONText.writeString(epoch, into: &buffer)
            }
            buffer.writeStaticString(",\"seq\":")
            buffer.writeString(String(seq))
            buffer.writeStaticString("}")
        }
    }

    /// The fan-out frame, built once per publish:
    /// `{"type":"message","channel":"news","data":<data>,"from":"<client>","seq":<seq>}`, with
    /// `"event"` when the message has an event name (Pusher events, named publishes) and `"user"`
    /// for a client event on a presence channel.
    public static func message(
        channel: String, data: ByteBuffer, from: String, seq: UInt64, event: String? = nil, user: String? = nil, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        frame(
            allocator, capacity: 64 + channel.utf8.count + data.readableBytes + from.utf8.count + (event?.utf8.count ?? 0) + (user?.utf8.count ?? 0)
        ) {
            buffer in
            // Channel names (native and Pusher alphabets) and senders (client ids, socket ids,
            // `api`, `operator`) need no JSON escaping, so they are copied as they are.
            buffer.writeStaticString("{\"type\":\"message\",\"channel\":\"")
            buffer.writeString(channel)
            buffer.writeStaticString("\",\"data\":")
            buffer.writeImmutableBuffer(data)
            buffer.writeStaticString(",\"from\":\"")
            buffer.writeString(from)
            buffer.writeStaticString("\",\"seq\":")
            buffer.writeString(String(seq))
            if let event {
                buffer.writeStaticString(",\"event\":")
                JSONText.writeString(event, into: &buffer)
            }
            if let user {
                buffer.writeStaticString(",\"user\":")
                JSONText.writeString(user, into: &buffer)
            }
            buffer.writeStaticString("}")
        }
    }

    /// A presence change pushed to a channel's subscribers, once per user (not per connection):
    /// `{"type":"join","channel":…,"user":…,"info":…}` or `{"type":"leave","channel":…,"user":…}`.
    public static func presenceChange(joined: Bool, channel: String, member: PresenceMember, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 48 + channel.utf8.count + member.userID.utf8.count * 2 + (member.info?.count ?? 0)) { buffer in
            buffer.writeStaticString(joined ? "{\"type\":\"join\",\"channel\":" : "{\"type\":\"leave\",\"channel\":")
            JSONText.writeString(channel, into: &buffer)
            buffer.writeStaticString(",\"user\":")
            JSONText.writeString(member.userID, into: &buffer)
            if joined, let info = member.info {
                buffer.writeStaticString(",\"info\":")
                buffer.writeBytes(info)
            }
            buffer.writeStaticString("}")
        }
    }

    /// The members of a presence channel, in join order:
    /// `{"type":"presence","channel":…,"members":[{"user":…,"info":…}],"count":n}`.
    public static func presence(channel: String, members: [PresenceMember], id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 64 + channel.utf8.count + members.reduce(0) { $0 + 24 + $1.userID.utf8.count * 2 + ($1.info?.count ?? 0) }) {
            buffer in
            buffer.writeStaticString("{\"type\":\"presence\",\"channel\":")
            JSONText.writeString(channel, into: &buffer)
            buffer.writeStaticString(",\"members\":[")
            for (index, member) in members.enumerated() {
                buffer.writeStaticString(index == 0 ? "{\"user\":" : ",{\"user\":")
                JSONText.writeString(member.userID, into: &buffer)
                if let info = member.info {
                    buffer.writeStaticString(",\"info\":")
                    buffer.writeBytes(info)
                }
                buffer.writeStaticString("}")
            }
            buffer.writeStaticString("],\"count\":")
            buffer.writeString(String(members.count))
            writeID(id, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    /// `{"type":"broadcast","data":<data>,"from":"operator"}`: an operator's message to everyone.
    public static func broadcast(data: ByteBuffer, from: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 48 + data.readableBytes + from.utf8.count) { buffer in
            buffer.writeStaticString("{\"type\":\"broadcast\",\"data\":")
            buffer.writeImmutableBuffer(data)
            buffer.writeStaticString(",\"from\":")
            JSONText.writeString(from, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    private static func channelReply(_ type: StaticString, channel: String, id: ByteBuffer?, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(allocator, capacity: 40 + channel.utf8.count + (id?.readableBytes ?? 0)) { buffer in
            buffer.writeStaticString("{\"type\":\"")
            buffer.writeStaticString(type)
            buffer.writeStaticString("\",\"channel\":\"")
            buffer.writeString(channel)
            buffer.writeStaticString("\"")
            writeID(id, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    private static func writeID(_ id: ByteBuffer?, into buffer: inout ByteBuffer) {
        guard let id else { return }
        buffer.writeStaticString(",\"id\":")
        buffer.writeImmutableBuffer(id)
    }

    static func frame(_ allocator: ByteBufferAllocator, capacity: Int, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = WireFrame.begin(allocator: allocator, payloadCapacity: capacity)
        body(&buffer)
        WireFrame.finish(&buffer, opcode: .text)
        return buffer
    }
}

/// JSON text helpers for values the server writes itself.
public enum JSONText {
    /// Writes `text` as a quoted JSON string, escaping what RFC 8259 requires.
    public static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("\"")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case 0x0A: buffer.writeStaticString("\\n")
            case 0x0D: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0xF)])
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeStaticString("\"")
    }

    /// `text` as a quoted JSON string.
    public static func quoted(_ text: String) -> String {
        var buffer = ByteBuffer()
        writeString(text, into: &buffer)
        return String(buffer: buffer)
    }
}
