public import Foundation
public import RedisClient

/// A real `redis-server` on a free loopback port in a temporary directory, without persistence,
/// for one test; stopped by pid. `scripts/test.sh` installs Debian's redis-server; a plain
/// `swift test` without it skips these tests (or fails them when SWITCHBOARD_REQUIRE_REDIS=1).
public final class RedisServerProcess: @unchecked Sendable {
    public static let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
    /// Whether the tests that need a Redis can run here.
    public static var available: Bool {
        if executable != nil { return true }
        precondition(ProcessInfo.processInfo.environment["SWITCHBOARD_REQUIRE_REDIS"] != "1", "redis-server is required but not installed")
        return false
    }

    public private(set) var port: Int
    public let directory: URL
    /// Given to redis-server after the test defaults (`--cluster-enabled yes`, …).
    public let extraArguments: [String]
    private var process: Process?

    public var address: RedisAddress { RedisAddress(host: "127.0.0.1", port: port) }

    /// Starts a server and waits until it answers; on another free port when the one chosen
    /// was taken meanwhile (by a test running alongside).
    public init(extraArguments: [String] = []) throws {
        port = try Self.freePort()
        self.extraArguments = extraArguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var failures = 0
        while true {
            do {
                try start()
                return
            } catch {
                failures += 1
                if failures == 5 { throw error }
                port = try Self.freePort()
            }
        }
    }

    /// Starts (again) on the same port, empty.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable!)
        process.arguments =
            [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path, "--daemonize", "no",
            ] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(30)
        while !Self.answers(port: port, pid: process.processIdentifier) {
            guard Date() < deadline, process.isRunning else {
                kill()
                throw Failure(description: "redis-server did not start on port \(port)")
            }
            usleep(10_000)
        }
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    public func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) the server: open sockets, no answers.
    public func pause(_ paused: Bool) {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, paused ? SIGSTOP : SIGCONT)
    }

    deinit {
        if let process {
            Foundation.kill(process.processIdentifier, SIGCONT)
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A loopback port nobody listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether the redis-server with process id `pid` answers on `port` (not merely something
    /// listening there, such as another test's server).
    private static func answers(port: Int, pid: Int32) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        let request = "INFO server\r\n"
        guard connected, send(fd, request, request.utf8.count, 0) == request.utf8.count else { return false }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else { return false }
            reply += chunk[..<count]
            if String(decoding: reply, as: UTF8.self).contains("process_id:\(pid)\r\n") { return true }
        }
    }

}

/// Waits for `condition` to hold, checking every 20 ms, until `seconds` have passed.
public func eventually(within seconds: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
