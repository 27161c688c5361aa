import SwitchboardCore
import Testing

@Suite struct ChannelGrantTests {
    @Test func namesAndPrefixes() {
        let grant = ChannelGrant(["news", "room:*"])
        #expect(grant.permits("news"))
        #expect(!grant.permits("news2"))
        #expect(grant.permits("room:1"))
        #expect(grant.permits("room:"))
        #expect(!grant.permits("roo"))
        #expect(!grant.permits("private"))
    }

    @Test func starGrantsAllAndEmptyGrantsNothing() {
        #expect(ChannelGrant(["*"]).permits("anything"))
        #expect(!ChannelGrant([]).permits("news"))
    }
}
