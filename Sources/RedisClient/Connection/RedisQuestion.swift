import NIOCore
import NIOPosix

/// One question to one Redis server (or sentinel) on a connection of its own: `AUTH` first when
/// a password is given, then `command`; its reply (a server error as ``RedisError/reply(_:)``).
/// The connection is closed once answered (or after 2 s without an answer).
enum RedisQuestion {
    static func ask(
        _ command: [String], of server: RedisAddress.Endpoint, username: String? = nil, password: String?, on eventLoop: any EventLoop
    ) -> EventLoopFuture<RESPValue> {
        let answers = Answers(eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(1))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPChannelHandler { value in answers.received(value) })
                }
            }
        return bootstrap.connect(host: server.host, port: server.port).flatMap { channel in
            var commands: [[String]] = []
            if let password { commands.append(["AUTH"] + (username.map { [$0] } ?? []) + [password]) }
            commands.append(command)
            var bytes = ByteBuffer()
            for command in commands { RESPEncoder.command(command, into: &bytes) }
            let replies = commands.map { _ in answers.expect() }
            channel.writeAndFlush(bytes, promise: nil)
            let timeout = eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in answers.failAll() }
            return EventLoopFuture.whenAllSucceed(replies, on: eventLoop).always { _ in
                timeout.cancel()
                channel.close(promise: nil)
            }
        }.flatMapThrowing { replies in
            if let error = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw RedisError.reply(error.string ?? "an error")
            }
            return replies[replies.count - 1]
        }
    }

    /// The replies the question waits for, in order (on the connection's loop).
    private final class Answers: @unchecked Sendable {
        let eventLoop: any EventLoop
        private var waiting: [EventLoopPromise<RESPValue>] = []

        init(eventLoop: any EventLoop) {
            self.eventLoop = eventLoop
        }

        func expect() -> EventLoopFuture<RESPValue> {
            let promise = eventLoop.makePromise(of: RESPValue.self)
            waiting.append(promise)
            return promise.futureResult
        }

        func received(_ value: RESPValue) {
            guard !waiting.isEmpty else { return }
            waiting.removeFirst().succeed(value)
        }

        func failAll() {
            for promise in waiting { promise.fail(RedisError.noReply("the server closed the connection")) }
            waiting.removeAll()
        }
    }
}
