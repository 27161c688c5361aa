import Foundation
import SwitchboardConfiguration
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
}
