/// One call's who and which: the identity it runs as and the request id that ties its log lines and audit row.
public struct CallContext: Sendable {
    public let identity: Identity
    public let requestID: String

    public init(identity: Identity, requestID: String) {
        self.identity = identity
        self.requestID = requestID
    }
}

/// The key a mutating call is deduplicated by: scoped to workspace, caller and tool (ARCHITECTURE.md, The wire contract).
public struct IdempotencyScope: Sendable, Hashable {
    public let tool: String
    public let key: String
    /// A fingerprint of the request, so the same key with a different payload is refused.
    public let requestHash: String

    public init(tool: String, key: String, requestHash: String) {
        self.tool = tool
        self.key = key
        self.requestHash = requestHash
    }
}
