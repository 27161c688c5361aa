/// permessage-deflate (RFC 7692): which offer from a client's `Sec-WebSocket-Extensions` the
/// server accepts, and on what terms.
///
/// The server always answers with `server_no_context_takeover` and `client_no_context_takeover`:
/// every message is compressed on its own, so one zlib stream per event loop serves every
/// connection (no 40-odd KiB of compression state per client), and a message compressed once can
/// go to any number of clients.
public struct DeflateParameters: Sendable, Equatable {
    /// Window size (bits) of what the server sends: 15, or less when the client asked for less.
    public var serverWindowBits: Int

    public init(serverWindowBits: Int = 15) {
        self.serverWindowBits = serverWindowBits
    }

    /// The `Sec-WebSocket-Extensions` value of the handshake response.
    public var responseHeader: String {
        var header = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        if serverWindowBits < 15 { header += "; server_max_window_bits=\(serverWindowBits)" }
        return header
    }

    /// The first acceptable permessage-deflate offer among `headerValues` (each a header line,
    /// offers separated by commas), or nil to decline compression.
    ///
    /// An offer with an unknown, repeated or invalid parameter is skipped (RFC 7692 §5), and so is
    /// one that limits the server to an 8-bit window, which zlib cannot produce.
    public static func negotiate(_ headerValues: [String]) -> DeflateParameters? {
        for offer in headerValues.flatMap({ $0.split(separator: ",") }) {
            let parts = offer.split(separator: ";").map { $0.trimmingSpaces }
            guard parts.first?.lowercased() == "permessage-deflate" else { continue }
            if let accepted = accept(parameters: parts.dropFirst()) { return accepted }
        }
        return nil
    }

    private static func accept(parameters: ArraySlice<Substring>) -> DeflateParameters? {
        var seen = Set<String>()
        var result = DeflateParameters()
        for parameter in parameters {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            let name = pair[0].lowercased()
            let value = pair.count == 2 ? String(pair[1].trimmingQuotes) : nil
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover", "client_no_context_takeover":
                guard value == nil else { return nil }
            case "server_max_window_bits":
                guard let value, let bits = Int(value), (8...15).contains(bits), value.first != "0" else { return nil }
                guard bits >= 9 else { return nil }  // zlib's raw deflate cannot use an 8-bit window
                result.serverWindowBits = bits
            case "client_max_window_bits":
                // We inflate with a full window, so any client window is fine.
                if let value {
                    guard let bits = Int(value), (8...15).contains(bits), value.first != "0" else { return nil }
                }
            default:
                return nil
            }
        }
        return result
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }

    fileprivate var trimmingQuotes: Substring {
        count >= 2 && first == "\"" && last == "\"" ? dropFirst().dropLast() : self
    }
}
