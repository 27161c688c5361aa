import NIOCore
import NIOEmbedded
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// Connections that expire, on an `EmbeddedChannel` whose loop's clock the test moves: the
/// expiry, `refresh_required`, the grace and 4003, without waiting on the wall clock.
@Suite("Session expiry")
struct SessionExpiryTests {
    static func expiring(in seconds: Double) -> ClientIdentity {
        ClientIdentity(user: "ann", grant: nil, expiresAt: WallClock.now() + seconds)
    }

    @Test func anIdentityStaysThreeWordsWhateverItsTerms() {
        #expect(MemoryLayout<ClientIdentity>.size == 3 * MemoryLayout<Int>.size)
        let granted = ClientIdentity(user: "ann", grant: ChannelGrant(["news"]), expiresAt: 1_800_000_000)
        #expect(granted.grant == ChannelGrant(["news"]) && granted.expiresAt == 1_800_000_000)
        #expect(ClientIdentity(user: "ann", grant: ChannelGrant(["news"])).expiresAt == nil)
        #expect(ClientIdentity(user: "ann", grant: nil, expiresAt: 5).grant == nil)
    }

    @Test func anExpiryCenturiesAwayIsWaitedForInStepsAndSaidInBounds() throws {
        let client = try EmbeddedClient.make(identity: ClientIdentity(user: "ann", grant: nil, expiresAt: 1e300)) {
            $0.heartbeatInterval = .seconds(86_400 * 365)
        }
        #expect(try client.received().first?.hasSuffix(#","expires_in":\#(Int32.max)}"#) == true)
        for _ in 0..<3 {
            client.loop.advanceTime(by: .seconds(Int64(Session.longestExpiryWait)))
            #expect(try client.received().isEmpty)
            #expect(client.hub.shards[0].expiryTimers.count == 1)
        }
    }

    @Test func anExpiredConnectionIsAskedToRefreshThenClosed4003AfterTheGrace() throws {
        let client = try EmbeddedClient.make(identity: Self.expiring(in: 60)) {
            $0.refreshGrace = .seconds(5)
            $0.heartbeatInterval = .seconds(3600)  // the silent test client is not pinged meanwhile
        }
        let welcome = try #require(try client.received().first)
        #expect(welcome.hasSuffix(#","expires_in":59}"#) || welcome.hasSuffix(#","expires_in":60}"#), "\(welcome)")
        #expect(client.hub.shards[0].expiryTimers.count == 1)
        // The expiry is a little under 60 s of the loop's clock away (the wall clock moved on
        // since the identity was made): the clock moves in 100 ms steps until it comes, so the
        // grace is known to end 4.9 to 5 s later.
        client.loop.advanceTime(by: .seconds(50))
        #expect(try client.received().isEmpty)
        var steps = 0
        var frames: [String] = []
        while frames.isEmpty && steps < 100 {
            client.loop.advanceTime(by: .milliseconds(100))
            frames = try client.received()
            steps += 1
        }
        #expect(frames == [#"{"type":"refresh_required"}"#])
        client.loop.advanceTime(by: .milliseconds(4850))
        let inTheGrace = try client.received()
        #expect(inTheGrace.isEmpty, "\(inTheGrace)")
        client.loop.advanceTime(by: .milliseconds(150))
        #expect(try client.received() == ["close 4003"])
        let row = try #require(client.rows().first)
        #expect(row.closeCode == 4003 && row.closeReason == "expired")
    }

    @Test func connectionsThatNeverExpireScheduleNothingAndAClosedOneForgetsItsTask() throws {
        let forever = try EmbeddedClient.make()
        #expect(try forever.received().first?.contains("expires_in") == false)
        #expect(forever.hub.shards[0].expiryTimers.count == 0)
        let expiring = try EmbeddedClient.make(identity: Self.expiring(in: 3600))
        #expect(expiring.hub.shards[0].expiryTimers.count == 1)
        _ = try expiring.received()
        try expiring.sendClose(code: 1000)
        #expect(try expiring.received() == ["close 1000"])
        expiring.channel.pipeline.fireChannelInactive()
        expiring.loop.run()
        #expect(expiring.hub.shards[0].expiryTimers.count == 0)
    }
}
