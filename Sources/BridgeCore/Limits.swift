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

    /// The defaults.
    public static let `default` = Limits()

    /// Checks a message's sizes: the body's UTF-8 bytes and the payload's encoded bytes (`payloadBytes`, nil when
    /// there is none). `fieldPrefix` names where the message sits in the request (`message.` in a thread create).
    public func checkMessage(body: String, payloadBytes: Int?, fieldPrefix: String = "") throws(BridgeError) {
        let bodyBytes = body.utf8.count
        if bodyBytes > maxBodyBytes {
            throw BridgeError(
                .invalidArgument,
                .bodyTooLarge,
                "body is \(bodyBytes) bytes; the limit is \(maxBodyBytes).",
                details: ["field": "\(fieldPrefix)body", "limit": "\(maxBodyBytes)"]
            )
        }
        if let payloadBytes, payloadBytes > maxPayloadBytes {
            throw BridgeError(
                .invalidArgument,
                .payloadTooLarge,
                "payload is \(payloadBytes) bytes; the limit is \(maxPayloadBytes).",
                details: ["field": "\(fieldPrefix)payload", "limit": "\(maxPayloadBytes)"]
            )
        }
    }

    /// The page size a read or inbox uses: the requested one (default 50) clamped to 1…`maxReadLimit`.
    public func readLimit(_ requested: Int?) -> Int {
        min(max(requested ?? 50, 1), maxReadLimit)
    }

    /// How long a long poll waits: the requested seconds (default 0) clamped to 0…`maxWaitSeconds`.
    public func waitSeconds(_ requested: Double?) -> Double {
        min(max(requested ?? 0, 0), maxWaitSeconds)
    }
}
