import Hummingbird
import SwitchboardCore

/// A path parameter whose percent-encoding is malformed (`%` not followed by two hex digits, or
/// escapes that do not decode to UTF-8).
struct MalformedPathParameter: Error {
    let name: String
    let raw: String

    var message: String { "the path parameter \(name) (\(raw)) is not valid percent-encoding" }
}

extension Parameters {
    /// The path parameter `name`, percent-decoded, or nil when the route has no such parameter.
    ///
    /// Hummingbird hands path parameters over as they were sent, and most clients encode what
    /// is not a letter or digit (`encodeURIComponent("c1@node-b")` is `c1%40node-b`), so every
    /// route reads its parameters through this: `c1%40node-b` is the client `c1@node-b` and
    /// `room%3Aa` the channel `room:a`. `+` stays a `+` (it means a space only in queries).
    func decoded(_ name: String) throws(MalformedPathParameter) -> String? {
        guard let raw = get(name) else { return nil }
        guard let decoded = QueryString.percentDecoded(raw) else { throw MalformedPathParameter(name: name, raw: raw) }
        return decoded
    }

    /// The path parameter `name` of an `/api` route, percent-decoded; a malformed encoding is a
    /// 400 `bad_request`.
    func requireDecoded(_ name: String) throws(APIError) -> String {
        let value: String?
        do {
            value = try decoded(name)
        } catch {
            throw APIError(.badRequest, code: "bad_request", error.message)
        }
        guard let value else { throw APIError(.badRequest, code: "bad_request", "the path has no \(name)") }
        return value
    }
}
