import Foundation
import SwitchboardConfiguration
import SwitchboardCore
import SwitchboardServer
import Testing

/// The settings table is the one source of every flag, environment variable and config key.
@Suite struct SettingTests {
    private func configFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: Setting.all.filter { $0.example != nil }.map(\.key))
    func everySettingIsReachableAsAFlagAnEnvironmentVariableAndAConfigKey(key: String) throws {
        let setting = try #require(Setting.named(key))
        let example = try #require(setting.example)
        let loader = ConfigurationLoader()
        let defaults = SwitchboardSettings()
        let byFlag = try loader.load(file: nil, environment: [:], flags: [key: example])
        let byEnvironment = try loader.load(file: nil, environment: [setting.environmentVariable: example], flags: [:])
        let escaped = example.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let file = try configFile("# every setting is a key\n\(key) = \"\(escaped)\"\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let byFile = try loader.load(file: file, environment: [:], flags: [:])
        #expect(setting.value(byFlag) != setting.value(defaults), "the example must change \(key)")
        #expect(setting.value(byEnvironment) == setting.value(byFlag))
        #expect(setting.value(byFile) == setting.value(byFlag))
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let port = try #require(Setting.named("port"))
        let file = try configFile("port = 1111\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let loader = ConfigurationLoader()
        #expect(port.value(try loader.load(file: file, environment: [:], flags: [:])) == "1111")
        #expect(port.value(try loader.load(file: file, environment: ["SWITCHBOARD_PORT": "2222"], flags: [:])) == "2222")
        #expect(port.value(try loader.load(file: file, environment: ["SWITCHBOARD_PORT": "2222"], flags: ["port": "3333"])) == "3333")
    }

    @Test func helpShowsDefaultsTakenFromTheConfigurationTypes() throws {
        func help(_ key: String) throws -> String { try #require(Setting.named(key)).fullHelp }
        #expect(try help("port").contains("(default 8080). Env: SWITCHBOARD_PORT."))
        #expect(try help("max-message-size").contains("(default 64KiB)"))
        #expect(try help("outbound-queue-bytes").contains("(default 1MiB)"))
        #expect(try help("heartbeat").contains("(default 15)"))
        #expect(try help("publish-burst").contains("(default 50000)"))
        #expect(try help("slow-consumer").contains("(default close)"))
        #expect(try help("metrics-public").contains("(default false)"))
        #expect(Set(Setting.all.map(\.key)).count == Setting.all.count)
    }

    @Test func badValuesNameTheirSource() throws {
        let loader = ConfigurationLoader()
        #expect(throws: ConfigurationError.self) { try loader.load(file: nil, environment: [:], flags: ["port": "eighty"]) }
        do {
            _ = try loader.load(file: nil, environment: ["SWITCHBOARD_MAX_CONNECTIONS": "-5"], flags: [:])
            Issue.record("a negative connection limit was accepted")
        } catch {
            #expect("\(error)".contains("SWITCHBOARD_MAX_CONNECTIONS") && "\(error)".contains("integer"))
        }
    }

    private func refusal(_ text: String, flags: [String: String] = [:]) throws -> String {
        let file = try configFile(text)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            _ = try ConfigurationLoader().load(file: file, environment: [:], flags: flags)
            return "accepted"
        } catch {
            return "\(error)".replacingOccurrences(of: file, with: "FILE")
        }
    }

    @Test func channelTablesSetHistoryPerPattern() throws {
        let file = try configFile(
            """
            history-size = 10
            [[channels]]
            pattern = "chat:*"
            history_size = 100
            history_ttl = "10m"

            [[channels]]
            pattern = "tmp:*"
            history_size = 0
            """)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let history = try ConfigurationLoader().load(file: file, environment: [:], flags: [:]).server.hub.history
        #expect(history.policy(for: "chat:1")?.size == 100)
        #expect(history.policy(for: "chat:1")?.ttl == .seconds(600))
        #expect(history.policy(for: "tmp:1") == nil)
        #expect(history.policy(for: "news")?.size == 10)
    }

    @Test func aBadChannelTableNamesItsOwnLine() throws {
        let text = """
            [[channels]]
            pattern = "chat:*"

            [[channels]]
            pattern = "news"
            history_size = -1
            """
        #expect(try refusal(text) == "FILE:4: [[channels]]: expected history_size from 0 to 100000")
        #expect(try refusal("[[channels]]\npattern = \"a\"\nhistory_ttl = \"soon\"\n").hasPrefix("FILE:1: [[channels]]: expected history_ttl as"))
        #expect(try refusal("[[channels]]\nsize = 3\n").contains("only the keys pattern, history_size, history_ttl"))
    }

    @Test func anUnknownTableNamesItsLine() throws {
        #expect(try refusal("port = 8080\n\n[servers]\nhost = \"a\"\n").hasPrefix("FILE:3: unknown table \"servers\""))
        #expect(try refusal("port = 8080\n[[chanels]]\npattern = \"a\"\n").hasPrefix("FILE:2: unknown table \"chanels\""))
    }
}
