import Foundation
import SwitchboardConfiguration
import SwitchboardServer
import Testing

/// The client-token settings: public key files as a list from every source, and the errors of
/// files that hold no usable key.
@Suite struct ClientTokenSettingTests {
    /// A P-256 public key (ES256).
    static let es256 = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEECW9/zbQlx6tiXvTJcqBze7SkO5v
        4gJnZumh0QR1lPPFb4eFeScQAVIP3dyUj2hoKXfQYeHgTlCK9nMt6tLrNw==
        -----END PUBLIC KEY-----
        """
    /// A P-384 public key: an EC key, but not one ES256 verifies with.
    static let p384 = """
        -----BEGIN PUBLIC KEY-----
        MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEran/3iwNjlUm5U8OChmnHJFmETX5QYBq
        /w3UAALt1nsbWfo7c9rdMd81Gz0xcBtzagEoGlEugT4FQp295gDxCmqjlWwak7G6
        0OoG2k+1afPfHqx1i748p8AYWWYCrSaL
        -----END PUBLIC KEY-----
        """

    private func file(_ text: String, suffix: String = "pem") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID().uuidString).\(suffix)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func publicKeyFilesAreAListFromEverySource() throws {
        let (first, second) = (try file(Self.es256), try file(Self.es256))
        let config = try file("auth-jwt-public-key = [\"\(first)\", \"\(second)\"]\n", suffix: "toml")
        defer { for path in [first, second, config] { try? FileManager.default.removeItem(atPath: path) } }
        let loader = ConfigurationLoader()
        for loaded in [
            try loader.load(file: nil, environment: [:], flags: ["auth-jwt-public-key": "\(first),\(second)"]),
            try loader.load(file: nil, environment: ["SWITCHBOARD_AUTH_JWT_PUBLIC_KEY": "\(first), \(second)"], flags: [:]),
            try loader.load(file: config, environment: [:], flags: [:]),
        ] {
            #expect(loaded.server.hub.clientTokens.publicKeys.map(\.file) == [first, second])
            #expect(loaded.server.hub.clientTokens.publicKeys.map(\.algorithm) == ["ES256", "ES256"])
            #expect(loaded.server.hub.clientTokens.isEnabled)
        }
    }

    @Test func aFileWithoutAUsableKeyIsAConfigurationErrorThatSaysWhy() throws {
        let curve = try file(Self.p384)
        defer { try? FileManager.default.removeItem(atPath: curve) }
        let missing = "/nonexistent/key.pem"
        for (path, why) in [(curve, "not a usable token key"), (missing, "cannot read the file")] {
            do {
                _ = try ConfigurationLoader().load(file: nil, environment: [:], flags: ["auth-jwt-public-key": path])
                Issue.record("\(path) was accepted")
            } catch {
                #expect("\(error)".hasPrefix("--auth-jwt-public-key: \(path): \(why)"), "\(error)")
            }
        }
    }

    @Test func aConfigArrayMustHoldStrings() throws {
        let config = try file("auth-jwt-public-key = [1, 2]\n", suffix: "toml")
        defer { try? FileManager.default.removeItem(atPath: config) }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader().load(file: config, environment: [:], flags: [:]) }
    }

    @Test func refreshGraceDefaultsToTenSeconds() throws {
        #expect(try #require(Setting.named("refresh-grace")).fullHelp.contains("(default 10). Env: SWITCHBOARD_REFRESH_GRACE."))
    }
}
