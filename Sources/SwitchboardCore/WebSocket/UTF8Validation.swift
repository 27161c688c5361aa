/// Strict UTF-8 validation (RFC 3629): rejects overlong forms, surrogates and code points above
/// U+10FFFF. Text frames that fail it are closed with 1007, as RFC 6455 §8.1 requires.
///
/// ASCII is checked eight bytes at a time, so the common JSON payload costs about one load and one
/// mask per eight bytes.
public enum UTF8Validation {
    /// Whether `bytes` is well-formed UTF-8.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        validLength(bytes, allowingTruncation: false) == bytes.count
    }

    /// For a message still arriving in fragments: the length of the longest prefix of `bytes`
    /// made of complete characters, or nil once `bytes` cannot begin well-formed UTF-8 whatever
    /// follows. A character cut by the end of `bytes` is not an error (the next fragment may
    /// complete it), which lets a text message that goes bad be failed at once (fail fast).
    public static func completePrefixLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        validLength(bytes, allowingTruncation: true)
    }

    private static func validLength(_ bytes: UnsafeRawBufferPointer, allowingTruncation: Bool) -> Int? {
        let count = bytes.count
        guard let base = bytes.baseAddress else { return 0 }
        var i = 0
        while i < count {
            // Fast path: eight ASCII bytes at a time.
            if i + 8 <= count {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if word & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                    continue
                }
            }
            let lead = base.load(fromByteOffset: i, as: UInt8.self)
            if lead < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F
            default: return nil
            }
            let present = min(length, count - i)
            if present > 1 {
                let second = base.load(fromByteOffset: i + 1, as: UInt8.self)
                guard second >= lower && second <= upper else { return nil }
            }
            var k = 2
            while k < present {
                let next = base.load(fromByteOffset: i + k, as: UInt8.self)
                guard next & 0xC0 == 0x80 else { return nil }
                k += 1
            }
            guard present == length else { return allowingTruncation ? i : nil }
            i += length
        }
        return count
    }

    /// Whether `bytes` is well-formed UTF-8.
    public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        if let result = bytes.withContiguousStorageIfAvailable({ isValid(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { isValid($0) }
    }
}
