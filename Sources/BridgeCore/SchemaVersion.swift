/// The request schema version a client speaks. Any `1.x` is accepted; another major is refused.
public enum SchemaVersion {
    /// The version this server writes and assumes when a request names none.
    public static let current = "1.0"
    /// The major version this server implements.
    public static let supportedMajor = 1

    /// Returns the version to record for a request, or throws `UNSUPPORTED_SCHEMA_VERSION`.
    public static func check(_ requested: String?) throws(BridgeError) -> String {
        guard let requested else { return current }
        let parts = requested.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), Int(parts[1]) != nil,
            parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) })
        else {
            throw BridgeError.invalidArgument(
                .invalidFieldValue,
                "schema_version must look like \"1.0\".",
                field: "schema_version"
            )
        }
        guard major == supportedMajor else {
            throw BridgeError(
                .invalidArgument,
                .unsupportedSchemaVersion,
                "schema_version \(requested) is not supported; this server speaks 1.x.",
                details: ["field": "schema_version", "supported": "1.x"]
            )
        }
        return requested
    }
}
