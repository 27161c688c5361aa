/// URL query strings: `a=1&b=two+words&c=%C3%A9`.
public enum QueryString {
    /// Splits a raw query (without `?`) into decoded pairs, in order (`+` is a space, `%XX` a byte).
    public static func parse(_ query: String) -> [(key: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                let spaced = String(text.map { $0 == "+" ? " " : $0 })
                return percentDecoded(spaced) ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// The first value of `key` in the query of `uri` (`/path?query`), decoded.
    public static func value(of key: String, inURI uri: some StringProtocol) -> String? {
        guard let mark = uri.firstIndex(of: "?") else { return nil }
        return parse(String(uri[uri.index(after: mark)...])).first { $0.key == key }?.value
    }

    /// `text` with `%XX` escapes decoded; nil when an escape is malformed or the bytes are not UTF-8.
    public static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(JSONScanner.hexValue), let low = iterator.next().flatMap(JSONScanner.hexValue) else {
                return nil
            }
            bytes.append(UInt8(high << 4 | low))
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
