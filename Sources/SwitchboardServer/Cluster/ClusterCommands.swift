import Logging
import NIOCore
import RedisClient
import SwitchboardCore

/// Operator actions across nodes: a node publishes a ``NodeCommand`` on the bus every node
/// listens to (`<prefix>:{nodes}:@nodes`), or to one node (`<prefix>:{nodes}:@node:<name>`); each node carries
/// it out on its own clients and answers on the asker's own channel. The asker waits for every
/// live node it asked, up to ``ClusterLink/askDeadline``, and says which did not answer.
extension ClusterLink {
    /// Node-bus requests this node carries out at once, at most.
    static let maxCommandsInFlight = 64

    /// How long an asking node waits for the others' answers.
    static let askDeadline = TimeAmount.seconds(2)

    /// What the asked nodes answered, and which did not answer in time.
    struct Answers: Sendable {
        var counts: [String: Int?] = [:]
        /// What each node sent beyond its count.
        var payloads: [String: [UInt8]] = [:]
        var missing: [String] = []

        /// The clients reached or closed on the nodes that answered.
        var total: Int { counts.values.reduce(0) { $0 + ($1 ?? 0) } }
    }

    var busName: String { keys.busName }

    func directName(_ node: String) -> String { keys.directName(node) }

    /// Asks `nodes` (by default every other live node) to carry out `command`. Refused when the
    /// live nodes cannot be listed (Redis unreachable).
    func ask(_ command: NodeCommand, of nodes: [String]? = nil) async throws(OperatorFailure) -> Answers {
        let targets: [String]
        if let nodes { targets = nodes } else { targets = try await otherLiveNodes() }
        guard !targets.isEmpty else { return Answers() }
        return await ask(command, targets: targets, onTheBus: nodes == nil)
    }

    /// The names of the other nodes that are alive now.
    func otherLiveNodes() async throws(OperatorFailure) -> [String] {
        try await self.nodes.nodes().filter { $0.alive && $0.name != nodeName }.map(\.name)
    }

    private func ask(_ command: NodeCommand, targets: [String], onTheBus: Bool) async -> Answers {
        let promise = eventLoop.makePromise(of: Answers.self)
        eventLoop.execute {
            self.nextAsk += 1
            let id = self.nextAsk
            let timer = self.eventLoop.scheduleTask(in: Self.askDeadline) { self.finishAsk(id) }
            self.asks[id] = Ask(waiting: Set(targets), answers: Answers(), promise: promise, timer: timer)
            let request = NodeCommand.encode(NodeCommand.Request(id: id, replyTo: self.nodeName, command: command))
            let names = onTheBus ? [self.busName] : targets.map(self.directName)
            for name in names {
                self.connection.publish(ByteBuffer(string: name), request).whenFailure { _ in
                    self.eventLoop.execute { self.finishAsk(id) }
                }
            }
        }
        return (try? await promise.futureResult.get()) ?? Answers(missing: targets)
    }

    /// Tells every other node something that needs no answer.
    func tell(_ command: NodeCommand) {
        let notice = NodeCommand.encode(NodeCommand.Request(id: 0, replyTo: nodeName, command: command))
        _ = connection.publish(ByteBuffer(string: busName), notice)
    }

    /// A request or an answer arrived on one of the node's own channels (on the loop).
    func receiveCommand(_ payload: ByteBuffer, perform: @escaping @Sendable (NodeCommand) async -> (Int?, [UInt8])) {
        switch NodeCommand.decode(payload) {
        case .request(let request) where request.replyTo != nodeName:
            // Each request runs in a task of its own, at most `maxCommandsInFlight` at once; one
            // beyond that is not answered, and the asker reports this node as missing.
            guard commandsInFlight < Self.maxCommandsInFlight else {
                logger.warning(
                    "node command dropped: too many in flight", metadata: ["from": "\(request.replyTo)", "limit": "\(Self.maxCommandsInFlight)"])
                return
            }
            commandsInFlight += 1
            Task {
                let (count, extra) = await perform(request.command)
                eventLoop.execute { self.commandsInFlight -= 1 }
                guard request.id != 0 else { return }  // a notice
                let reply = NodeCommand.encode(NodeCommand.Reply(id: request.id, node: nodeName, count: count, payload: extra))
                _ = connection.publish(ByteBuffer(string: directName(request.replyTo)), reply)
            }
        case .reply(let reply):
            guard var ask = asks[reply.id] else { return }
            ask.waiting.remove(reply.node)
            ask.answers.counts[reply.node] = reply.count
            if !reply.payload.isEmpty { ask.answers.payloads[reply.node] = reply.payload }
            asks[reply.id] = ask
            if ask.waiting.isEmpty { finishAsk(reply.id) }
        default:
            break
        }
    }

    private func finishAsk(_ id: UInt64) {
        guard var ask = asks.removeValue(forKey: id) else { return }
        ask.timer.cancel()
        ask.answers.missing = ask.waiting.sorted()
        ask.promise.succeed(ask.answers)
    }
}

/// One question a node asked the others, on the link's loop.
struct Ask {
    var waiting: Set<String>
    var answers: ClusterLink.Answers
    let promise: EventLoopPromise<ClusterLink.Answers>
    let timer: Scheduled<Void>
}
