public import NIOCore

/// Encoders for every frame the server sends to Pusher clients, as complete WebSocket text frames.
///
/// Where the protocol wants `data` to be a JSON *string* holding JSON (connection established,
/// subscription succeeded, member added and removed), it is written that way.
public enum PusherFrame {
    /// `pusher:connection_established` with `{"socket_id":…,"activity_timeout":…}` as a string.
    public static func connectionEstablished(socketID: String, activityTimeout: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        event(
            "pusher:connection_established", stringData: "{\"socket_id\":\"\(socketID)\",\"activity_timeout\":\(activityTimeout)}",
            allocator: allocator)
    }

    /// `{"event":"pusher:pong","data":"{}"}`
    public static func pong(allocator: ByteBufferAllocator) -> ByteBuffer {
        event("pusher:pong", stringData: "{}", allocator: allocator)
    }

    /// `{"event":"pusher:ping","data":"{}"}`
    public static func ping(allocator: ByteBufferAllocator) -> ByteBuffer {
        event("pusher:ping", stringData: "{}", allocator: allocator)
    }

    /// `{"event":"pusher:error","data":{"code":…,"message":…}}`; a nil code is written as `null`
    /// (an error that does not end the connection).
    public static func error(code: Int?, message: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        ServerMessage.frame(allocator, capacity: 64 + message.utf8.count) { buffer in
            buffer.writeStaticString("{\"event\":\"pusher:error\",\"data\":{\"code\":")
            buffer.writeString(code.map(String.init) ?? "null")
            buffer.writeStaticString(",\"message\":")
            JSONText.writeString(message, into: &buffer)
            buffer.writeStaticString("}}")
        }
    }

    /// `pusher_internal:subscription_succeeded`; for presence channels `data` holds
    /// `{"presence":{"ids":[…],"hash":{…},"count":n}}`, for others `{}`.
    public static func subscriptionSucceeded(channel: String, members: [PresenceMember]?, allocator: ByteBufferAllocator) -> ByteBuffer {
        var data = "{}"
        if let members {
            var ids: [String] = []
            var hash: [String] = []
            for member in members {
                let id = JSONText.quoted(member.userID)
                ids.append(id)
                hash.append(id + ":" + (member.info.map { String(decoding: $0, as: UTF8.self) } ?? "null"))
            }
            data = "{\"presence\":{\"ids\":[\(ids.joined(separator: ","))],\"hash\":{\(hash.joined(separator: ","))},\"count\":\(members.count)}}"
        }
        return event("pusher_internal:subscription_succeeded", channel: channel, stringData: data, allocator: allocator)
    }

    /// `pusher:subscription_error` for `channel`: `{"type":…,"error":…,"status":…}`. The
    /// connection stays open.
    public static func subscriptionError(channel: String, type: String, error: String, status: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        ServerMessage.frame(allocator, capacity: 96 + channel.utf8.count + error.utf8.count) { buffer in
            buffer.writeStaticString("{\"event\":\"pusher:subscription_error\",\"channel\":")
            JSONText.writeString(channel, into: &buffer)
            buffer.writeStaticString(",\"data\":{\"type\":")
            JSONText.writeString(type, into: &buffer)
            buffer.writeStaticString(",\"error\":")
            JSONText.writeString(error, into: &buffer)
            buffer.writeStaticString(",\"status\":")
            buffer.writeString(String(status))
            buffer.writeStaticString("}}")
        }
    }

    /// An event on a channel: `{"event":…,"channel":…,"data":<data>}` with `"user_id"` for client
    /// events on presence channels. `data` is one JSON value, written as it is.
    public static func channelEvent(_ name: String, channel: String, data: ByteBuffer, userID: String?, allocator: ByteBufferAllocator)
        -> ByteBuffer
    {
        ServerMessage.frame(allocator, capacity: 48 + name.utf8.count + channel.utf8.count + data.readableBytes + (userID?.utf8.count ?? 0) * 2) {
            buffer in
            buffer.writeStaticString("{\"event\":")
            JSONText.writeString(name, into: &buffer)
            buffer.writeStaticString(",\"channel\":")
            JSONText.writeString(channel, into: &buffer)
            buffer.writeStaticString(",\"data\":")
            buffer.writeImmutableBuffer(data)
            if let userID {
                buffer.writeStaticString(",\"user_id\":")
                JSONText.writeString(userID, into: &buffer)
            }
            buffer.writeStaticString("}")
        }
    }

    /// `pusher_internal:member_added` with `{"user_id":…,"user_info":…}` as a string.
    public static func memberAdded(channel: String, member: PresenceMember, allocator: ByteBufferAllocator) -> ByteBuffer {
        let info = member.info.map { ",\"user_info\":" + String(decoding: $0, as: UTF8.self) } ?? ""
        return event(
            "pusher_internal:member_added", channel: channel, stringData: "{\"user_id\":\(JSONText.quoted(member.userID))\(info)}",
            allocator: allocator)
    }

    /// `pusher_internal:member_removed` with `{"user_id":…}` as a string.
    public static func memberRemoved(channel: String, userID: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        event("pusher_internal:member_removed", channel: channel, stringData: "{\"user_id\":\(JSONText.quoted(userID))}", allocator: allocator)
    }

    /// `{"event":"pusher:signin_success","data":{"user_data":"…"}}`
    public static func signinSuccess(userData: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        ServerMessage.frame(allocator, capacity: 64 + userData.utf8.count * 2) { buffer in
            buffer.writeStaticString("{\"event\":\"pusher:signin_success\",\"data\":{\"user_data\":")
            JSONText.writeString(userData, into: &buffer)
            buffer.writeStaticString("}}")
        }
    }

    /// An operator's broadcast: `{"event":"switchboard:broadcast","data":<data>}` (no channel, so
    /// clients see it as a connection-level event).
    public static func broadcast(data: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        ServerMessage.frame(allocator, capacity: 48 + data.readableBytes) { buffer in
            buffer.writeStaticString("{\"event\":\"switchboard:broadcast\",\"data\":")
            buffer.writeImmutableBuffer(data)
            buffer.writeStaticString("}")
        }
    }

    /// `{"event":…[,"channel":…],"data":"<json as a string>"}`
    private static func event(_ name: StaticString, channel: String? = nil, stringData: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        ServerMessage.frame(allocator, capacity: 48 + (channel?.utf8.count ?? 0) + stringData.utf8.count * 2) { buffer in
            buffer.writeStaticString("{\"event\":\"")
            buffer.writeStaticString(name)
            buffer.writeStaticString("\"")
            if let channel {
                buffer.writeStaticString(",\"channel\":")
                JSONText.writeString(channel, into: &buffer)
            }
            buffer.writeStaticString(",\"data\":")
            JSONText.writeString(stringData, into: &buffer)
            buffer.writeStaticString("}")
        }
    }
}
