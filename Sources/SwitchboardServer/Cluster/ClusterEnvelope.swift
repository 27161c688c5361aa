import NIOCore

/// A publication as it travels between nodes through Redis: the channel, what kind of message it
/// is, who sent it, whom to skip, and its data, in a compact binary form read back without
/// copying the data.
///
/// Layout: a version byte, a kind byte, then `channel`, `event`, `user`, `from`, `except` (each a
/// 32-bit big-endian length, `0xFFFFFFFF` for none, and the UTF-8 bytes), then the data to the
/// end. The Redis script puts the channel's `seq` and a newline in front; a payload with nothing
/// after the newline is a sync marker (see ``ClusterLink``).
enum ClusterEnvelope {
    static let version: UInt8 = 1
    private static let messageKind: UInt8 = 0
    private static let none = UInt32.max

    /// The bytes of a message publication. Presence changes do not travel this way.
    static func encode(_ publication: Publication) -> ByteBuffer? {
        guard case .message(let event, let user) = publication.kind else { return nil }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(32 + publication.channel.utf8.count + publication.from.utf8.count + publication.data.readableBytes)
        buffer.writeInteger(version)
        buffer.writeInteger(messageKind)
        for field in [publication.channel, event, user, publication.from, publication.except] {
            if let field {
                buffer.writeInteger(UInt32(field.utf8.count))
                buffer.writeString(field)
            } else {
                buffer.writeInteger(none)
            }
        }
        var data = publication.data
        buffer.writeBuffer(&data)
        return buffer
    }

    /// What one pub/sub payload carries: a numbered publication, or the channel's current number.
    enum Delivery {
        case message(seq: UInt64, Publication)
        /// A sync marker for `channel`: its numbering stands at `seq` (0: nothing published yet).
        case marker(seq: UInt64)
    }

    /// Reads `seq\n` and the envelope; nil for bytes no node wrote.
    static func decode(_ payload: ByteBuffer) -> Delivery? {
        var payload = payload
        guard let newline = payload.readableBytesView.firstIndex(of: UInt8(ascii: "\n")),
            let digits = payload.readString(length: newline - payload.readerIndex), let seq = UInt64(digits)
        else { return nil }
        payload.moveReaderIndex(forwardBy: 1)
        if payload.readableBytes == 0 { return .marker(seq: seq) }
        guard payload.readInteger(as: UInt8.self) == version, payload.readInteger(as: UInt8.self) == messageKind else { return nil }
        var fields: [String?] = []
        for _ in 0..<5 {
            guard let length = payload.readInteger(as: UInt32.self) else { return nil }
            if length == none {
                fields.append(nil)
            } else {
                guard let text = payload.readString(length: Int(length)) else { return nil }
                fields.append(text)
            }
        }
        guard let channel = fields[0], let from = fields[3] else { return nil }
        let publication = Publication(
            channel: channel, kind: .message(event: fields[1], user: fields[2]), data: payload, from: from, except: fields[4])
        return .message(seq: seq, publication)
    }
}
