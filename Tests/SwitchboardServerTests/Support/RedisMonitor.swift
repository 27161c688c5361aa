import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport

/// A `MONITOR` connection to a real redis-server: every command the server runs, the commands
/// scripts call included, as the server reports them.
final class RedisMonitor: Sendable {
    /// One command the server ran.
    struct Command: Sendable {
        /// Whether a script called it (`[0 lua]`), rather than a client.
        var byScript: Bool
        /// The command's name and arguments.
        var parts: [[UInt8]]
    }

    private let channel: any Channel
    private let received: NIOLockedValueBox<[UInt8]>

    /// Connects to the server on `port` and waits until it monitors.
    init(port: Int) async throws {
        let received = NIOLockedValueBox<[UInt8]>([])
        self.received = received
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: "MONITOR\r\n")).get()
        _ = await eventually { received.withLockedValue { $0.starts(with: Array("+OK\r\n".utf8)) } }
    }

    /// Every command the server ran until `redis` echoed a mark (so none before it is missing),
    /// oldest first; then the monitor stops.
    func commands(through redis: RedisConnection) async throws -> [Command] {
        let mark = "monitor-mark"
        _ = try await redis.send("ECHO", mark).get()
        let seen = await eventually { self.received.withLockedValue { Self.lines(in: $0).contains { $0.parts.last == Array(mark.utf8) } } }
        try await channel.close()
        precondition(seen, "the monitor never saw its mark")
        return received.withLockedValue { Self.lines(in: $0) }.dropFirst()  // +OK
            .prefix { $0.parts.last != Array(mark.utf8) }
    }

    /// The commands in MONITOR's lines (`+<time> [<db> <client>] "name" "argument" …`, escaped as
    /// Redis quotes strings).
    private static func lines(in bytes: [UInt8]) -> [Command] {
        var commands: [Command] = []
        var start = 0
        while let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            commands.append(command(in: bytes[start..<end]))
            start = end + 1
        }
        return commands
    }

    private static func command(in line: ArraySlice<UInt8>) -> Command {
        let close = line.firstIndex(of: UInt8(ascii: "]")) ?? line.endIndex
        let byScript = line[..<close].reversed().starts(with: Array(" lua".utf8.reversed()))
        var parts: [[UInt8]] = []
        var index = close
        while index < line.endIndex {
            guard line[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            index += 1
            var part: [UInt8] = []
            while line[index] != UInt8(ascii: "\"") {
                if line[index] == UInt8(ascii: "\\") {
                    index += 1
                    switch line[index] {
                    case UInt8(ascii: "n"): part.append(10)
                    case UInt8(ascii: "r"): part.append(13)
                    case UInt8(ascii: "t"): part.append(9)
                    case UInt8(ascii: "a"): part.append(7)
                    case UInt8(ascii: "b"): part.append(8)
                    case UInt8(ascii: "x"):
                        part.append(UInt8(String(decoding: line[(index + 1)...(index + 2)], as: UTF8.self), radix: 16) ?? 0)
                        index += 2
                    default: part.append(line[index])
                    }
                } else {
                    part.append(line[index])
                }
                index += 1
            }
            index += 1
            parts.append(part)
        }
        return Command(byScript: byScript, parts: parts)
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>

        init(received: NIOLockedValueBox<[UInt8]>) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data).readableBytesView
            received.withLockedValue { $0 += bytes }
        }
    }
}

/// The keys each script touched that it was not given, read from what a ``RedisMonitor`` saw:
/// a script's keys are the `KEYS` of its `EVAL`/`EVALSHA`, the commands it called follow it, and
/// which of their arguments are keys Redis says (`COMMAND GETKEYS`). Each as `<sha1>: <command>
/// <key>`; and the scripts that ran (by SHA-1).
func undeclaredKeys(in commands: [RedisMonitor.Command], askingKeysOf redis: RedisConnection) async throws -> (
    undeclared: [String], ran: Set<String>
) {
    var undeclared: [String] = []
    var ran = Set<String>()
    var script: (sha1: String, keys: Set<[UInt8]>)?
    for command in commands {
        guard command.byScript else {
            let name = String(decoding: command.parts.first ?? [], as: UTF8.self).lowercased()
            guard ["eval", "evalsha"].contains(name), command.parts.count >= 3,
                let count = Int(String(decoding: command.parts[2], as: UTF8.self))
            else {
                script = nil
                continue
            }
            let body = String(decoding: command.parts[1], as: UTF8.self)
            let sha1 = name == "eval" ? RedisScript(body).sha1 : body
            ran.insert(sha1)
            script = (sha1, Set(command.parts[3..<(3 + count)]))
            continue
        }
        guard let current = script else { continue }
        let asked = [ByteBuffer(string: "COMMAND"), ByteBuffer(string: "GETKEYS")] + command.parts.map { ByteBuffer(bytes: $0) }
        let keys: [[UInt8]]
        do {
            keys =
                try await redis.send(asked).get().elements?.compactMap { key in
                    if case .bulkString(let bytes?) = key { Array(bytes.readableBytesView) } else { nil }
                } ?? []
        } catch RedisError.reply(let message) where message.contains("no key arguments") || command.parts.count == 1 {
            keys = []
        }
        for key in keys where !current.keys.contains(key) {
            undeclared.append("\(current.sha1): \(String(decoding: command.parts[0], as: UTF8.self)) \(String(decoding: key, as: UTF8.self))")
        }
    }
    return (undeclared, ran)
}
