/// A client's remote address (`1.2.3.4:5678`, `[::1]:5678`, as rows show it) as one number that
/// sorts the way addresses do, so that the client table orders by address with the same 24-byte
/// keys as every other column, on one node or across a cluster.
///
/// IPv4 first, by address then port, exactly: `(address << 16) | port`. Then IPv6, by the
/// first 47 bits of the address and the port (bit 63 set): clients of one /47 network that
/// differ only further down tie on those bits and are ordered by port, then by id. An IPv4
/// address mapped into IPv6 (`[::ffff:1.2.3.4]`) counts as IPv4. Anything else (`unix`,
/// `unknown`) sorts last.
public enum RemoteAddressRank {
    /// The rank of an address that is neither IPv4 nor IPv6.
    public static let unknown = UInt64.max

    public static func of(_ address: String) -> UInt64 {
        var text = Substring(address)
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return unknown }
        text = text[..<colon]
        if text.first == "[", text.last == "]" {
            guard let bytes = ipv6(text.dropFirst().dropLast()) else { return unknown }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return ipv4Rank(bytes[12...].reduce(0) { $0 << 8 | UInt64($1) }, port: port)
            }
            let prefix = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> 1
            return 1 << 63 | prefix << 16 | UInt64(port)
        }
        guard let address = ipv4(text) else { return unknown }
        return ipv4Rank(address, port: port)
    }

    private static func ipv4Rank(_ address: UInt64, port: UInt16) -> UInt64 {
        address << 16 | UInt64(port)
    }

    /// `a.b.c.d` as a 32-bit number.
    private static func ipv4(_ text: Substring) -> UInt64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var address: UInt64 = 0
        for part in parts {
            guard part.count <= 3, let byte = UInt8(part) else { return nil }
            address = address << 8 | UInt64(byte)
        }
        return address
    }

    /// The 16 bytes of an IPv6 address in text (`::` shorthand and a trailing dotted IPv4 part
    /// allowed; a `%zone` ignored).
    private static func ipv6(_ text: Substring) -> [UInt8]? {
        let text = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let halves = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false)
        guard let head = groups(halves[0]) else { return nil }
        let tail = halves.count == 2 ? groups(halves[1]) : []
        guard let tail else { return nil }
        let missing = 8 - head.count - tail.count
        guard halves.count == 2 ? missing >= 1 : missing == 0 else { return nil }
        let words = head + [UInt16](repeating: 0, count: missing) + tail
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// Colon-separated 16-bit groups; a last group in dotted form counts as two.
    private static func groups(_ text: Substring) -> [UInt16]? {
        guard !text.isEmpty else { return [] }
        var words: [UInt16] = []
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if index == parts.count - 1, part.contains("."), let address = ipv4(part) {
                words += [UInt16(address >> 16), UInt16(address & 0xFFFF)]
            } else {
                guard (1...4).contains(part.count), let word = UInt16(part, radix: 16) else { return nil }
                words.append(word)
            }
        }
        return words.count <= 8 ? words : nil
    }
}
