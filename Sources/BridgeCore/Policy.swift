/// The operations policy decides on: one per v1 tool, named as the tool.
public enum BridgeOperation: String, Sendable, CaseIterable {
    case whoami = "v1_whoami"
    case participantRegister = "v1_participant_register"
    case participantHeartbeat = "v1_participant_heartbeat"
    case threadCreate = "v1_thread_create"
    case threadGet = "v1_thread_get"
    case threadList = "v1_thread_list"
    case threadJoin = "v1_thread_join"
    case threadLeave = "v1_thread_leave"
    case threadSetStatus = "v1_thread_set_status"
    case messagePost = "v1_message_post"
    case messageRead = "v1_message_read"
    case messageAck = "v1_message_ack"
    case inbox = "v1_inbox"

    /// Whether the operation changes stored state (and so takes an idempotency key and writes an audit event).
    public var isMutating: Bool {
        switch self {
        case .whoami, .threadGet, .threadList, .messageRead, .inbox: false
        default: true
        }
    }
}

/// What policy is asked: who wants to do what.
public struct PolicyRequest: Sendable {
    public var identity: Identity
    public var operation: BridgeOperation
    /// For status changes, the transition asked for.
    public var transition: ThreadStatus.Transition?

    public init(identity: Identity, operation: BridgeOperation, transition: ThreadStatus.Transition? = nil) {
        self.identity = identity
        self.operation = operation
        self.transition = transition
    }
}

/// A policy decision; a denial carries the error the caller sees and the trace that led to it.
public enum PolicyDecision: Sendable {
    case allow
    case deny(BridgeError, trace: [String])
}

/// The hook every operation passes through before it touches storage. Decisions are pure and deterministic.
public protocol Policy: Sendable {
    func decide(_ request: PolicyRequest) -> PolicyDecision
}

/// The built-in role policy until the catalog supplies one: observers only read; closing is for coordinators
/// and operators; unblocking is for operators and approvers. Thread-state rules (closed, blocked, membership)
/// are enforced by the store in the same statement as the write, so they cannot race.
public struct DefaultPolicy: Policy {
    public init() {}

    public func decide(_ request: PolicyRequest) -> PolicyDecision {
        let role = request.identity.role
        var trace = ["role=\(role.rawValue)", "operation=\(request.operation.rawValue)"]
        if role == .observer && [.threadCreate, .messagePost, .threadSetStatus].contains(request.operation) {
            trace.append("observers may only read")
            return .deny(Self.denied(role, "call \(request.operation.rawValue)"), trace: trace)
        }
        switch request.operation {
        case .threadSetStatus:
            switch request.transition {
            case .close where ![.coordinator, .operator].contains(role):
                trace.append("close requires coordinator or operator")
                return .deny(Self.denied(role, "close a thread"), trace: trace)
            case .unblock where !role.mayPostToBlockedThread:
                trace.append("unblock requires operator or approver")
                return .deny(Self.denied(role, "unblock a thread"), trace: trace)
            default:
                return .allow
            }
        default:
            return .allow
        }
    }

    static func denied(_ role: Role, _ what: String) -> BridgeError {
        BridgeError(.permissionDenied, .roleNotPermitted, "The \(role.rawValue) role may not \(what).", details: ["role": role.rawValue])
    }
}
