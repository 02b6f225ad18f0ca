/// Who is calling: resolved once per call from the local flag or (later) a token.
public struct Identity: Sendable, Hashable {
    /// The trust domain; every row carries it.
    public let workspace: String
    /// The participant's handle, unique in the workspace.
    public let handle: String
    /// The role the participant acts in.
    public let role: Role

    /// Whether this is an agent session or a person at the operator CLI.
    public let origin: Origin

    /// Where a call comes from, which the audit trail records.
    public enum Origin: String, Sendable, Hashable {
        /// An agent session through `serve` (or a test driving the store directly).
        case participant
        /// A person at the operator CLI (`inspect-thread`, `escalate-thread`, `approvals approve`, …).
        case `operator`
        /// The supervisor process (wakes, loop guards, ticket expiry); the handle is the supervisor's id.
        case supervisor
    }

    public init(workspace: String, handle: String, role: Role, origin: Origin = .participant) {
        self.workspace = workspace
        self.handle = handle
        self.role = role
        self.origin = origin
    }

    /// The audit actor string for this identity: `participant:HANDLE`, `operator:NAME` or `supervisor:ID`.
    public var auditActor: String { "\(origin.rawValue):\(handle)" }

    /// Checks that a handle has the shape `[a-z0-9][a-z0-9_.-]{0,63}`.
    public static func isValidHandle(_ handle: String) -> Bool {
        let bytes = Array(handle.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func isAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard isAlnum(bytes[0]) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }
}
