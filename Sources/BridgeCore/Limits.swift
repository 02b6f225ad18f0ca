/// Size and time limits applied to every request before it reaches storage.
public struct Limits: Sendable, Hashable {
    /// Largest message body, in UTF-8 bytes.
    public var maxBodyBytes: Int
    /// Largest message payload, in bytes of its JSON encoding.
    public var maxPayloadBytes: Int
    /// Longest a long-poll may wait, in seconds.
    public var maxWaitSeconds: Double
    /// Most messages one read may return.
    public var maxReadLimit: Int

    public init(maxBodyBytes: Int = 64 * 1024, maxPayloadBytes: Int = 64 * 1024, maxWaitSeconds: Double = 60, maxReadLimit: Int = 500) {
        self.maxBodyBytes = maxBodyBytes
        self.maxPayloadBytes = maxPayloadBytes
        self.maxWaitSeconds = maxWaitSeconds
        self.maxReadLimit = maxReadLimit
    }

    /// The defaults of DESIGN §4.
    public static let `default` = Limits()
}
