import SwitchboardCore
import Testing

@Suite struct DeflateNegotiationTests {
    @Test func noOfferNoCompression() {
        #expect(DeflateParameters.negotiate([]) == nil)
        #expect(DeflateParameters.negotiate(["x-webkit-deflate-frame"]) == nil)
    }

    @Test func aBrowserOfferIsAcceptedWithoutContextTakeover() throws {
        let accepted = try #require(DeflateParameters.negotiate(["permessage-deflate; client_max_window_bits"]))
        #expect(accepted == DeflateParameters(serverWindowBits: 15))
        #expect(accepted.responseHeader == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    }

    @Test func theServerWindowFollowsTheOffer() throws {
        let accepted = try #require(DeflateParameters.negotiate(["permessage-deflate; server_max_window_bits=10; client_no_context_takeover"]))
        #expect(accepted.serverWindowBits == 10)
        #expect(accepted.responseHeader.hasSuffix("; server_max_window_bits=10"))
        #expect(DeflateParameters.negotiate(["permessage-deflate; server_max_window_bits=\"12\""])?.serverWindowBits == 12)
    }

    @Test func badOrUnsupportedOffersAreSkippedForTheNextOne() throws {
        #expect(DeflateParameters.negotiate(["permessage-deflate; server_max_window_bits=8"]) == nil)
        #expect(DeflateParameters.negotiate(["permessage-deflate; server_max_window_bits=16"]) == nil)
        #expect(DeflateParameters.negotiate(["permessage-deflate; server_max_window_bits"]) == nil)
        #expect(DeflateParameters.negotiate(["permessage-deflate; mystery=1"]) == nil)
        #expect(DeflateParameters.negotiate(["permessage-deflate; server_no_context_takeover; server_no_context_takeover"]) == nil)
        let fallback = try #require(
            DeflateParameters.negotiate([
                "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9", "permessage-deflate",
            ])
        )
        #expect(fallback.serverWindowBits == 9)
    }
}
