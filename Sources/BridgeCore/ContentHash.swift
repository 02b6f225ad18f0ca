import Crypto

/// SHA-256 digests used for message body hashes and idempotency request fingerprints.
public enum ContentHash {
    /// Lower-case hex SHA-256 of the bytes.
    public static func sha256Hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digest = SHA256.hash(data: Array(bytes))
        var hex = ""
        hex.reserveCapacity(64)
        for byte in digest {
            let s = String(byte, radix: 16)
            if s.count == 1 { hex.append("0") }
            hex.append(s)
        }
        return hex
    }

    /// Lower-case hex SHA-256 of a string's UTF-8 bytes.
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(text.utf8)
    }
}
