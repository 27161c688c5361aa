import SwitchboardCore
import Testing

@Suite struct OriginPolicyTests {
    @Test func clientsWithoutOriginAreNotBrowsersAndPass() {
        #expect(OriginPolicy().permits(origin: nil, host: "127.0.0.1:8080"))
        #expect(OriginPolicy(allowed: ["https://app.example.com"]).permits(origin: nil, host: nil))
        // swift-websocket's client sends its own ws:// origin without the port
        #expect(OriginPolicy().permits(origin: "ws://127.0.0.1", host: "127.0.0.1:8080"))
    }

    @Test func withoutAListOnlySameOriginPagesPass() {
        let policy = OriginPolicy()
        #expect(policy.permits(origin: "http://127.0.0.1:8080", host: "127.0.0.1:8080"))
        #expect(policy.permits(origin: "HTTP://Example.com", host: "example.com"))
        #expect(!policy.permits(origin: "http://evil.example", host: "127.0.0.1:8080"))
        #expect(!policy.permits(origin: "http://127.0.0.1:9999", host: "127.0.0.1:8080"))
        #expect(!policy.permits(origin: "null", host: "127.0.0.1:8080"))
        #expect(!policy.permits(origin: "http://127.0.0.1:8080", host: nil))
    }

    @Test func aListAllowsItsOriginsBesidesSameOrigin() {
        let policy = OriginPolicy(allowed: [" https://App.example.com/ ", "http://localhost:3000"])
        #expect(policy.permits(origin: "https://app.example.com", host: "hub.example.com"))
        #expect(policy.permits(origin: "http://localhost:3000", host: "127.0.0.1:8080"))
        #expect(!policy.permits(origin: "https://app.example.com.evil", host: "hub.example.com"))
        #expect(policy.permits(origin: "http://hub.example.com", host: "hub.example.com"))
        #expect(!policy.permits(origin: "http://localhost:3001", host: "hub.example.com"))
    }

    @Test func starAllowsEveryOrigin() {
        let policy = OriginPolicy(allowed: ["*"])
        #expect(policy.permits(origin: "null", host: "127.0.0.1:8080"))
        #expect(policy.permits(origin: "https://anywhere.example", host: "127.0.0.1:8080"))
    }
}
