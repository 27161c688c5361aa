import NIOCore
import Testing

@testable import SwitchboardCore

/// The native protocol's pieces for tokens that expire: `refresh` requests, `expires_in` in
/// `welcome`, `refresh_required` and `refreshed`.
@Suite("Refresh protocol")
struct RefreshProtocolTests {
    @Test("refresh carries its token, escapes decoded, and its id")
    func refresh() {
        let decoded = DecodedRequest(#"{"type":"refresh","token":"a.b\/c","id":7}"#)
        #expect(decoded.request?.kind == .refresh(token: "a.b/c"))
        #expect(decoded.text(decoded.request?.id) == "7")
    }

    @Test("refresh without a string token is invalid_token and keeps the id", arguments: [#""id":1"#, #""token":"","id":1"#, #""token":42,"id":1"#])
    func refreshWithoutToken(members: String) throws {
        let decoded = DecodedRequest(#"{"type":"refresh",\#(members)}"#)
        let error = try #require(decoded.error)
        #expect(error.code == .invalidToken && error.message.contains(#""token""#))
        #expect(decoded.text(error.id) == "1")
    }
}

extension ServerMessageTests {
    @Test("welcome says expires_in last when the token expires")
    func welcomeExpiresIn() throws {
        let frame = ServerMessage.welcome(client: "c-1", user: "ann", version: "1", heartbeatSeconds: 15, expiresIn: 3599, allocator: allocator)
        #expect(
            try payload(of: frame) == #"{"type":"welcome","client":"c-1","user":"ann","server":"switchboard/1","heartbeat_s":15,"expires_in":3599}"#)
    }

    @Test("refresh_required, and refreshed with and without expires_in and id")
    func refreshFrames() throws {
        #expect(try payload(of: ServerMessage.refreshRequired(allocator: allocator)) == #"{"type":"refresh_required"}"#)
        #expect(
            try payload(of: ServerMessage.refreshed(expiresIn: 600, id: Self.id(#""r""#), allocator: allocator))
                == #"{"type":"refreshed","expires_in":600,"id":"r"}"#)
        #expect(try payload(of: ServerMessage.refreshed(expiresIn: nil, id: nil, allocator: allocator)) == #"{"type":"refreshed"}"#)
    }
}
