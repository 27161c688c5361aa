import Foundation
import NIOCore
import SwitchboardCore

/// An operator action one node asks the others to carry out on their own clients, and the
/// answer, as they travel through Redis pub/sub (text lines; the last field may hold newlines).
enum NodeCommand: Equatable, Sendable {
    /// Send the operator's broadcast (`data`, one JSON value) to every client.
    case broadcast(data: [UInt8])
    /// Close this client (its id names this node) with `code` and `reason`.
    case kickClient(id: String, code: UInt16, reason: String)
    /// Close every connection of `user` (see ``Session/authenticatedUser``).
    case kickUser(UserKick)
    /// Close every subscriber of `channel`, or every client when nil.
    case kickAll(channel: String?, code: UInt16, reason: String)
    /// Close the connections of Pusher app `appID` whose user is `userID`.
    case terminate(appID: String, userID: String)
    /// Answer with this node's part of a cluster-wide client window (as JSON, in the reply's
    /// payload).
    case clientWindow(ClientWindowStep)
    /// A notice, answered by nobody: the asker declared this node dead and removed it.
    case nodeDeclaredDead(String)
    /// Start, stop or keep tapping the target of another node's trace (see ``ClusterTraces``).
    case trace(TraceRequest)

    /// A trace's request as it travels (JSON: a target may hold any character).
    struct TraceRequest: Codable, Equatable, Sendable {
        enum Action: String, Codable, Sendable {
            /// Tap `kind` `value` here and send the lines to `node` (answered with 1 once in place).
            case start
            /// Take the taps of `traces` off.
            case stop
            /// `node`'s `traces` are still running (without it a tap ends after a while).
            case renew
        }
        var action: Action
        /// The asking node, where the lines go.
        var node: String
        /// The asking node's trace ids: the one to start or stop, or every one it renews.
        var traces: [String]
        /// What to tap (`client`, `user` or `channel`) and which, for `start`.
        var kind: String?
        var value: String?
    }

    /// A user's kick as it travels (JSON: a user name may hold any character).
    struct UserKick: Codable, Equatable, Sendable {
        var user: String
        var code: UInt16
        var reason: String
    }

    /// One request: who asks (the reply goes to that node), which request, what.
    struct Request: Equatable, Sendable {
        var id: UInt64
        var replyTo: String
        var command: NodeCommand
    }

    /// One node's answer: how many clients it reached or closed; nil when it does not hold the
    /// client asked for.
    struct Reply: Equatable, Sendable {
        var id: UInt64
        var node: String
        var count: Int?
        /// What the command asked for beyond a count (a part of a client window, as JSON).
        var payload: [UInt8] = []
    }

    static func encode(_ request: Request) -> ByteBuffer {
        var lines = ["C", String(request.id), request.replyTo]
        switch request.command {
        case .broadcast(let data): lines += ["broadcast", String(decoding: data, as: UTF8.self)]
        case .kickClient(let id, let code, let reason): lines += ["kick-client", id, String(code), reason]
        case .kickAll(let channel, let code, let reason): lines += ["kick-all", channel.map { "#" + $0 } ?? "*", String(code), reason]
        case .terminate(let app, let user): lines += ["terminate", app, user]
        case .kickUser(let kick): lines += ["kick-user", String(decoding: (try? JSONEncoder().encode(kick)) ?? Data("{}".utf8), as: UTF8.self)]
        case .clientWindow(let step):
            lines += ["client-window", String(decoding: (try? JSONEncoder().encode(step)) ?? Data("{}".utf8), as: UTF8.self)]
        case .nodeDeclaredDead(let name): lines += ["node-dead", name]
        case .trace(let request): lines += ["trace", String(decoding: (try? JSONEncoder().encode(request)) ?? Data("{}".utf8), as: UTF8.self)]
        }
        return ByteBuffer(string: lines.joined(separator: "\n"))
    }

    static func encode(_ reply: Reply) -> ByteBuffer {
        var buffer = ByteBuffer(string: ["R", String(reply.id), reply.node, reply.count.map(String.init) ?? "-", ""].joined(separator: "\n"))
        buffer.writeBytes(reply.payload)
        return buffer
    }

    /// A request or a reply; nil for anything else.
    static func decode(_ payload: ByteBuffer) -> Either? {
        let text = String(buffer: payload)
        let head = text.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard head.count >= 3, let id = UInt64(head[1]) else { return nil }
        switch head[0] {
        case "R":
            guard head.count == 4 else { return nil }
            let tail = head[3].split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            let count = tail[0] == "-" ? nil : Int(tail[0])
            return .reply(Reply(id: id, node: head[2], count: count, payload: tail.count == 2 ? Array(tail[1].utf8) : []))
        case "C":
            guard head.count == 4, let command = command(head[3]) else { return nil }
            return .request(Request(id: id, replyTo: head[2], command: command))
        default:
            return nil
        }
    }

    enum Either: Equatable {
        case request(Request)
        case reply(Reply)
    }

    private static func command(_ text: String) -> NodeCommand? {
        let kind = text.prefix { $0 != "\n" }
        let rest = text.dropFirst(kind.count + 1)
        switch kind {
        case "broadcast":
            return .broadcast(data: Array(rest.utf8))
        case "kick-client", "kick-all":
            let fields = rest.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, let code = UInt16(fields[1]) else { return nil }
            if kind == "kick-client" { return .kickClient(id: fields[0], code: code, reason: fields[2]) }
            let channel: String? = fields[0] == "*" ? nil : String(fields[0].dropFirst())
            return .kickAll(channel: channel, code: code, reason: fields[2])
        case "kick-user":
            return (try? JSONDecoder().decode(UserKick.self, from: Data(rest.utf8))).map(NodeCommand.kickUser)
        case "node-dead":
            return .nodeDeclaredDead(String(rest))
        case "trace":
            return (try? JSONDecoder().decode(TraceRequest.self, from: Data(rest.utf8))).map(NodeCommand.trace)
        case "client-window":
            return (try? JSONDecoder().decode(ClientWindowStep.self, from: Data(rest.utf8))).map(NodeCommand.clientWindow)
        case "terminate":
            let fields = rest.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 2 else { return nil }
            return .terminate(appID: fields[0], userID: fields[1])
        default:
            return nil
        }
    }
}
