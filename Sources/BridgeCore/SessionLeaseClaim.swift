import Foundation

/// What a `serve` process says of its MCP session when it takes or renews its lease.
public struct SessionLeaseClaim: Sendable {
    public var id: UUID
    public var handle: String
    public var clientName: String?
    public var clientVersion: String?
    public var runtime: RuntimeKind
    public var sessionID: String?
    public var pid: Int32
    public var host: String
    /// The client declared the `claude/channel` capability.
    public var channel: Bool

    public init(
        id: UUID,
        handle: String,
        clientName: String? = nil,
        clientVersion: String? = nil,
        runtime: RuntimeKind = .none,
        sessionID: String? = nil,
        pid: Int32,
        host: String,
        channel: Bool = false
    ) {
        self.id = id
        self.handle = handle
        self.clientName = clientName
        self.clientVersion = clientVersion
        self.runtime = runtime
        self.sessionID = sessionID
        self.pid = pid
        self.host = host
        self.channel = channel
    }
}
