import NIOCore
import NIOPosix

/// One question to one Redis Sentinel on a connection of its own: which server is the master
/// named `name` (`SENTINEL get-master-addr-by-name`), after `AUTH` when the sentinels have a
/// password. The connection is closed once answered (or after 2 s without an answer).
enum SentinelQuestion {
    static func master(
        named name: String, of sentinel: RedisAddress.Endpoint, password: String?, on eventLoop: any EventLoop
    ) -> EventLoopFuture<RedisAddress.Endpoint> {
        let answers = Answers(eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(1))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPChannelHandler { value in answers.received(value) })
                }
            }
        return bootstrap.connect(host: sentinel.host, port: sentinel.port).flatMap { channel in
            var commands: [[String]] = []
            if let password { commands.append(["AUTH", password]) }
            commands.append(["SENTINEL", "get-master-addr-by-name", name])
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
            guard let parts = replies.last?.elements, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) })
            else {
                throw RedisError.unavailable("it knows no master named \(name)")
            }
            return RedisAddress.Endpoint(host: host, port: port)
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
            for promise in waiting { promise.fail(RedisError.noReply("the sentinel closed the connection")) }
            waiting.removeAll()
        }
    }
}
