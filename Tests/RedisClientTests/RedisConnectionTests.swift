import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisClient
import RedisTestSupport
import Testing

/// The request connection and the subscriber connection against a real redis-server.
@Suite(.enabled(if: RedisServerProcess.available, "needs redis-server (scripts/test.sh installs it)"), .serialized)
struct RedisConnectionTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    private func connect(_ server: RedisServerProcess, deadline: Duration = .seconds(2)) async throws -> RedisConnection {
        let connection = RedisConnection(
            configuration: .init(address: server.address, requestDeadline: deadline, maximumBackoff: .milliseconds(200), clientName: "tests"),
            eventLoop: loop)
        connection.start()
        #expect(await eventually { connection.isUp })
        return connection
    }

    private func text(_ value: RESPValue) -> String? { value.string }

    @Test func pipelinedRepliesComeBackInOrder() async throws {
        let server = try RedisServerProcess()
        let connection = try await connect(server)
        defer { Task { await connection.stop() } }
        // Sent from many tasks at once: each INCR's reply is matched to its own request.
        let futures = (0..<2000).map { _ in connection.send("INCR", "counter") }
        var seen: [Int64] = []
        for future in futures {
            guard case .integer(let value) = try await future.get() else {
                Issue.record("not an integer")
                return
            }
            seen.append(value)
        }
        #expect(seen == Array(1...2000))
        #expect(text(try await connection.send("GET", "counter").get()) == "2000")
        #expect(connection.status.pending == 0)
    }

    @Test func errorRepliesFailTheirRequestOnly() async throws {
        let server = try RedisServerProcess()
        let connection = try await connect(server)
        defer { Task { await connection.stop() } }
        let bad = connection.send("INCR")  // wrong number of arguments
        let good = connection.send("PING")
        await #expect(throws: RedisError.self) { try await bad.get() }
        #expect(text(try await good.get()) == "PONG")
    }

    @Test func scriptsRunBySHAAndAreLoadedAgainAfterAFlush() async throws {
        let server = try RedisServerProcess()
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let connection = RedisConnection(configuration: .init(address: server.address, maximumBackoff: .milliseconds(200)), eventLoop: loop)
        connection.register(script)
        connection.start()
        defer { Task { await connection.stop() } }
        #expect(await eventually { connection.isUp })
        let first = try await connection.evaluate(script, keys: [ByteBuffer(string: "k")], arguments: [ByteBuffer(string: "5")]).get()
        #expect(first == .integer(5))
        _ = try await connection.send("SCRIPT", "FLUSH").get()
        // EVALSHA now answers NOSCRIPT; the connection falls back to EVAL.
        let second = try await connection.evaluate(script, keys: [ByteBuffer(string: "k")], arguments: [ByteBuffer(string: "2")]).get()
        #expect(second == .integer(7))
    }

    @Test func requestsFailAtOnceWithoutAServerAndNothingIsSentLater() async throws {
        let server = try RedisServerProcess()
        let connection = try await connect(server)
        defer { Task { await connection.stop() } }
        server.kill()
        #expect(await eventually { !connection.isUp })
        await #expect(throws: RedisError.self) { try await connection.send("SET", "refused", "1").get() }
        try server.start()
        #expect(await eventually { connection.isUp })
        #expect(connection.status.reconnects >= 1)
        // The request refused during the outage was not kept for later.
        #expect(try await connection.send("EXISTS", "refused").get() == .integer(0))
    }

    @Test func aMissedDeadlineFailsWhatIsPendingAndReconnects() async throws {
        let server = try RedisServerProcess()
        let connection = try await connect(server, deadline: .milliseconds(300))
        defer { Task { await connection.stop() } }
        let reconnectsBefore = connection.status.reconnects
        server.pause(true)
        var failure: (any Error)?
        do { _ = try await connection.send("PING").get() } catch { failure = error }
        server.pause(false)
        guard case RedisError.noReply? = failure else {
            Issue.record("expected noReply, got \(String(describing: failure))")
            return
        }
        #expect(await eventually { connection.isUp && connection.status.reconnects > reconnectsBefore })
        #expect(text(try await connection.send("PING").get()) == "PONG")
    }

    @Test func stoppingFailsWhatIsStillInFlightAtOnce() async throws {
        let server = try RedisServerProcess()
        var connection: RedisConnection? = try await connect(server)
        // Answered in 5 s: still in flight when the connection stops, and the last reference to
        // the connection goes right after (a node's start-up name check does just this).
        let blocked = connection!.send("BLPOP", "nothing-here", "5")
        let observer = try await connect(server)
        defer { Task { await observer.stop() } }
        var isBlocked = false
        for _ in 0..<200 where !isBlocked {
            isBlocked = (try await observer.send("INFO", "clients").get().string ?? "").contains("blocked_clients:1")
            if !isBlocked { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(isBlocked)
        let failedByStop = NIOLockedValueBox(false)
        blocked.whenFailure { _ in failedByStop.withLockedValue { $0 = true } }
        await connection!.stop()
        // Failed within stop itself, not in a later tick that may find the connection gone.
        #expect(failedByStop.withLockedValue { $0 })
        connection = nil
        await #expect(throws: RedisError.self) { try await blocked.get() }
    }

    @Test func theDatabaseIsSelected() async throws {
        let server = try RedisServerProcess()
        var address = server.address
        address.database = 3
        let connection = RedisConnection(configuration: .init(address: address), eventLoop: loop)
        connection.start()
        defer { Task { await connection.stop() } }
        #expect(await eventually { connection.isUp })
        _ = try await connection.send("SET", "where", "three").get()
        let other = try await connect(server)
        defer { Task { await other.stop() } }
        #expect(try await other.send("EXISTS", "where").get() == .integer(0))
        _ = try await other.send("SELECT", "3").get()
        #expect(text(try await other.send("GET", "where").get()) == "three")
    }

    // MARK: - Subscriber

    final class Inbox: Sendable {
        let messages = NIOLockedValueBox<[String]>([])
        let resubscribed = NIOLockedValueBox<[[String]]>([])
    }

    private func subscriber(_ server: RedisServerProcess, inbox: Inbox, probe: Duration = .seconds(1), deadline: Duration = .seconds(2))
        -> RedisSubscriber
    {
        let subscriber = RedisSubscriber(
            configuration: .init(address: server.address, requestDeadline: deadline, maximumBackoff: .milliseconds(200)), eventLoop: loop,
            probeInterval: probe
        ) { channel, payload in
            inbox.messages.withLockedValue { $0.append(String(buffer: channel) + "=" + String(buffer: payload)) }
        }
        subscriber.onResubscribe { channels in inbox.resubscribed.withLockedValue { $0.append(channels) } }
        subscriber.start()
        return subscriber
    }

    @Test func aConfirmedSubscriptionReceivesWhatIsPublishedAfterIt() async throws {
        let server = try RedisServerProcess()
        let connection = try await connect(server)
        let inbox = Inbox()
        let subscriber = subscriber(server, inbox: inbox)
        defer {
            Task {
                await subscriber.stop()
                await connection.stop()
            }
        }
        #expect(await eventually { subscriber.isUp })
        try await subscriber.subscribe("news").get()
        // Confirmed means Redis has it: the very next publish is received.
        #expect(try await connection.send("PUBLISH", "news", "one").get() == .integer(1))
        _ = try await connection.send("PUBLISH", "other", "ignored").get()
        #expect(await eventually { inbox.messages.withLockedValue { $0 } == ["news=one"] })
        subscriber.unsubscribe("news")
        #expect(try await eventually { try await connection.send("PUBLISH", "news", "two").get() == .integer(0) })
    }

    @Test func subscriptionsComeBackAfterRedisRestarts() async throws {
        let server = try RedisServerProcess()
        let inbox = Inbox()
        let subscriber = subscriber(server, inbox: inbox)
        defer { Task { await subscriber.stop() } }
        #expect(await eventually { subscriber.isUp })
        try await subscriber.subscribe("a").get()
        try await subscriber.subscribe("b").get()
        server.kill()
        // While down, a new subscription is refused rather than promised.
        #expect(await eventually { !subscriber.isUp })
        await #expect(throws: RedisError.self) { try await subscriber.subscribe("c").get() }
        try server.start()
        #expect(await eventually { inbox.resubscribed.withLockedValue { $0 } == [["a", "b"]] })
        let connection = try await connect(server)
        defer { Task { await connection.stop() } }
        // Re-subscribed by itself: publishes on both channels arrive again.
        #expect(try await eventually { try await connection.send("PUBLISH", "a", "1").get() == .integer(1) })
        #expect(try await eventually { try await connection.send("PUBLISH", "b", "2").get() == .integer(1) })
        #expect(try await connection.send("PUBLISH", "c", "3").get() == .integer(0))
        #expect(await eventually { inbox.messages.withLockedValue { $0 }.contains("b=2") })
    }

    @Test func aSilentSubscriberConnectionIsDroppedAndDialedAgain() async throws {
        let server = try RedisServerProcess()
        let inbox = Inbox()
        let subscriber = subscriber(server, inbox: inbox, probe: .milliseconds(200), deadline: .milliseconds(300))
        defer { Task { await subscriber.stop() } }
        #expect(await eventually { subscriber.isUp })
        try await subscriber.subscribe("quiet").get()
        // The socket stays open but nothing answers: the probe notices and drops it.
        server.pause(true)
        let noticed = await eventually { subscriber.reconnects >= 1 }
        server.pause(false)
        #expect(noticed)
        #expect(await eventually { subscriber.isUp })
        #expect(await eventually { inbox.resubscribed.withLockedValue { $0 }.contains(["quiet"]) })
    }
}
