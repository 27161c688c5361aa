/// How much of a traced message's data a trace line carries (`trace-payloads`).
public enum TracePayloads: String, Sendable, CaseIterable {
    /// No `data` at all.
    case none
    /// The first ``TracePayloads/truncatedLimit`` bytes, cut on a UTF-8 boundary, with
    /// `"truncated":true` when something was cut.
    case truncated
    /// The whole text.
    case full

    /// What `truncated` keeps.
    public static let truncatedLimit = 200

    /// `text` as this policy keeps it: the data to put in the line (nil for none) and whether
    /// it was cut.
    public func cut<Bytes: BidirectionalCollection<UInt8>>(_ text: Bytes) -> (data: String?, truncated: Bool) {
        switch self {
        case .none:
            return (nil, false)
        case .full:
            return (String(decoding: text, as: UTF8.self), false)
        case .truncated:
            guard text.count > Self.truncatedLimit else { return (String(decoding: text, as: UTF8.self), false) }
            var end = text.index(text.startIndex, offsetBy: Self.truncatedLimit)
            // Step back over continuation bytes (10xxxxxx) so the cut falls between characters.
            while end > text.startIndex, text[end] & 0xC0 == 0x80 { end = text.index(end, offsetBy: -1) }
            return (String(decoding: text[text.startIndex..<end], as: UTF8.self), true)
        }
    }
}
