/// Which of Redis Cluster's 16 384 hash slots a key belongs to: CRC16 (XMODEM: polynomial
/// 0x1021, initial value 0) of the key, modulo 16 384.
///
/// A hash tag pins keys together: when a key has a `{`, and a `}` after it with at least one
/// byte in between, only the bytes between the first `{` and the first `}` after it are hashed
/// (`{user1000}.following` and `{user1000}.followers` share a slot). Computed on the key's bytes
/// with a table, without allocating.
public enum RedisSlot {
    /// How many slots a Redis Cluster has.
    public static let count = 16384

    /// The slot of `key`'s bytes.
    public static func of(_ key: some Collection<UInt8>) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let tagStart = key.index(after: open)
            if let close = key[tagStart...].firstIndex(of: UInt8(ascii: "}")), close != tagStart {
                return Int(crc16(key[tagStart..<close]) & UInt16(count - 1))
            }
        }
        return Int(crc16(key) & UInt16(count - 1))
    }

    /// The slot of `key`'s UTF-8 bytes.
    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { of($0) }
    }

    /// CRC16-XMODEM of `bytes`.
    public static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// CRC16-XMODEM of each byte value, for one table step per byte.
    private static let table: [UInt16] = (0..<256).map { value in
        var crc = UInt16(value) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
