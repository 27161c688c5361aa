import NIOCore
import SwitchboardCore

/// A publication as it travels between nodes through Redis: the channel, what kind of message it
/// is, who sent it, whom to skip, and its data, in a compact binary form read back without
/// copying the data.
///
/// Layout: a version byte, a kind byte, then `channel`, `event`, `user`, `from`, `except` (each a
/// 32-bit big-endian length, `0xFFFFFFFF` for none, and the UTF-8 bytes), then the data to the
/// end. The Redis script puts the channel's `seq` and a newline in front; a payload with nothing
/// after the newline is a sync marker (see ``ClusterLink``).
///
/// Presence changes are not numbered and are written by Lua scripts too (a dead node's members
/// are removed by another node's script), so they are text: `-\n`, `J` or `L`, then channel,
/// user id, except, from and the user's info separated by NUL bytes.
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

    /// A presence change as the join and leave scripts publish it.
    static func presenceChange(joined: Bool, channel: String, member: PresenceMember, except: String?, from: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(joined ? "-\nJ" : "-\nL")
        for field in [channel, member.userID, except ?? "", from] {
            buffer.writeString(field)
            buffer.writeInteger(UInt8(0))
        }
        if joined, let info = member.info { buffer.writeBytes(info) }
        return buffer
    }

    /// What one pub/sub payload carries: a numbered publication, a presence change, or the
    /// channel's current number.
    enum Delivery {
        case message(seq: UInt64, Publication)
        /// A user's first connection in the cluster joined, or its last one left.
        case presence(Publication)
        /// A sync marker for `channel`: its numbering stands at `seq` (0: nothing published yet).
        case marker(seq: UInt64)
    }

    /// Reads `seq\n` and the envelope; nil for bytes no node wrote.
    static func decode(_ payload: ByteBuffer) -> Delivery? {
        var payload = payload
        if payload.readableBytesView.starts(with: "-\n".utf8) { return decodePresence(payload) }
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

    private static func decodePresence(_ payload: ByteBuffer) -> Delivery? {
        let bytes = Array(payload.readableBytesView.dropFirst(2))
        guard let kind = bytes.first, kind == UInt8(ascii: "J") || kind == UInt8(ascii: "L") else { return nil }
        let parts = bytes.dropFirst().split(separator: 0, maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return nil }
        let text = parts.prefix(4).map { String(decoding: $0, as: UTF8.self) }
        let info = parts.count == 5 && !parts[4].isEmpty ? Array(parts[4]) : nil
        let member = PresenceMember(userID: text[1], info: kind == UInt8(ascii: "J") ? info : nil)
        let publication = Publication(
            channel: text[0], kind: kind == UInt8(ascii: "J") ? .joined(member) : .left(member), data: ByteBuffer(), from: text[3],
            except: text[2].isEmpty ? nil : text[2])
        return .presence(publication)
    }
}
