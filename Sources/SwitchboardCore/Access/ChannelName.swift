/// Rules for channel names: 1–128 bytes of `[A-Za-z0-9_.:@/-]`.
///
/// The alphabet needs no JSON escaping, so names are copied into outgoing frames verbatim.
public enum ChannelName {
    /// The longest accepted name, in bytes.
    public static let maxLength = 128

    /// Whether `name` is an acceptable channel name.
    public static func isValid(_ name: String) -> Bool {
        var count = 0
        for byte in name.utf8 {
            count += 1
            guard count <= maxLength, isAllowed(byte) else { return false }
        }
        return count > 0
    }

    @inline(__always) static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "@"),
            UInt8(ascii: "/"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}
