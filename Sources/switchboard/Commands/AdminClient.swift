import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwitchboardServer

/// A small client of the admin API for the CLI verbs: finds the token, sends one request, turns
/// every failure into one clear line.
struct AdminClient {
    let base: URL
    let token: String?

    /// What a verb could not do, in one line for the operator.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// The HTTP status and the server's message, when the server answered with an error.
        var status: Int?
        var message: String?
    }

    /// Resolves the server URL and the token: `--token`, then `SWITCHBOARD_ADMIN_TOKEN`, then the
    /// state file the server wrote for its port.
    init(server: String, token: String?) throws {
        guard let url = URL(string: server), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw Failure(description: "--server must be an http(s) URL such as http://127.0.0.1:8080, not \(server)")
        }
        base = url
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        self.token = token ?? ProcessInfo.processInfo.environment["SWITCHBOARD_ADMIN_TOKEN"] ?? AdminToken.fromStateFile(port: port)
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    func get<T: Decodable>(_ path: String, query: [String: String] = [:], as: T.Type) async throws -> T {
        let data = try await send("GET", path, query: query, body: nil)
        do {
            return try Self.decoder.decode(T.self, from: data)
        } catch {
            throw Failure(description: "unexpected answer from \(base.absoluteString)\(path): \(error)")
        }
    }

    /// Sends a JSON body and returns the decoded JSON object answer.
    func post(_ path: String, body: String) async throws -> [String: Any] {
        let data = try await send("POST", path, query: [:], body: Data(body.utf8))
        return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// The admin token, or the failure that says where to find one.
    func requiredToken() throws -> String {
        guard let token, !token.isEmpty else {
            throw Failure(
                description:
                    "no admin token: pass --token, set SWITCHBOARD_ADMIN_TOKEN, or run on the server's machine (state file \(AdminToken.stateFilePath(port: base.port ?? 80)))"
            )
        }
        return token
    }

    private func send(_ method: String, _ path: String, query: [String: String], body: Data?) async throws -> Data {
        let token = try requiredToken()
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) } }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        request.timeoutInterval = 15
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: "cannot reach \(base.absoluteString): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let message =
                (try? JSONSerialization.jsonObject(with: data) as? [String: Any])
                .flatMap { $0["error"] as? [String: Any] }
                .flatMap { $0["message"] as? String } ?? String(decoding: data, as: UTF8.self)
            if status == 401 {
                throw Failure(description: "the server refused the admin token (401); pass --token or set SWITCHBOARD_ADMIN_TOKEN")
            }
            throw Failure(description: "\(message) (HTTP \(status))", status: status, message: message)
        }
        return data
    }
}
