import Foundation

/// One text form for ids everywhere — wire, audit, logs, CLI: lowercase RFC 9562 (`UUID.uuidString` is uppercase).
/// Inputs are accepted in either case (`UUID(uuidString:)` ignores case).
extension UUID {
    /// The lowercase text form, `06c464fa-350a-4436-a436-20aec9707cb8`.
    public var wireString: String { uuidString.lowercased() }
}

// Synthesized `Encodable` conformances call these overloads, being more specific than the generic `encode(_:forKey:)`,
// in every module that imports BridgeCore: each UUID property of a record or output is written in ``UUID/wireString``
// form without a custom `encode(to:)` per type.
extension KeyedEncodingContainer {
    /// Encodes a UUID in its lowercase form.
    public mutating func encode(_ value: UUID, forKey key: Key) throws {
        try encode(value.wireString, forKey: key)
    }

    /// Encodes an optional UUID in its lowercase form, omitting the key when nil (as the generic overload does).
    public mutating func encodeIfPresent(_ value: UUID?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value.wireString, forKey: key)
    }
}
