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
    case approvalRequest = "v1_approval_request"
    case approvalGet = "v1_approval_get"
    case approvalDecide = "v1_approval_decide"
    case approvalList = "v1_approval_list"
    case approvalCancel = "v1_approval_cancel"
    case wakeTrigger = "v1_wake_trigger"
    case wakeStatus = "v1_wake_status"
    /// The permission-prompt tool a headless `claude -p --permission-prompt-tool` names.
    case permissionPrompt = "v1_permission_prompt"

    /// Whether the operation changes stored state (and so takes an idempotency key and writes an audit event).
    public var isMutating: Bool {
        switch self {
        case .whoami, .threadGet, .threadList, .messageRead, .inbox, .approvalGet, .approvalList, .wakeStatus: false
        default: true
        }
    }
}

/// What policy knows of the thread an operation targets, when it targets one.
public struct ThreadFacts: Sendable, Hashable {
    public var status: ThreadStatus
    public var callerIsMember: Bool

    public init(status: ThreadStatus, callerIsMember: Bool) {
        self.status = status
        self.callerIsMember = callerIsMember
    }
}

/// What policy knows of the approval ticket an operation targets.
public struct TicketFacts: Sendable, Hashable {
    public var requester: String
    public var actionClass: String

    public init(requester: String, actionClass: String) {
        self.requester = requester
        self.actionClass = actionClass
    }
}

/// What policy is asked: who wants to do what, to what.
public struct PolicyRequest: Sendable {
    public var identity: Identity
    public var operation: BridgeOperation
    /// For status changes, the transition asked for.
    public var transition: ThreadStatus.Transition?
    /// The target thread's state, when the caller has it; thread rules are skipped without it.
    public var thread: ThreadFacts?
    /// The target ticket, for decisions and cancellations.
    public var ticket: TicketFacts?

    public init(identity: Identity, operation: BridgeOperation, transition: ThreadStatus.Transition? = nil,
                thread: ThreadFacts? = nil, ticket: TicketFacts? = nil) {
        self.identity = identity
        self.operation = operation
        self.transition = transition
        self.thread = thread
        self.ticket = ticket
    }
}

/// A policy decision; a denial carries the error the caller sees and the trace that led to it.
public enum PolicyDecision: Sendable {
    case allow
    case deny(BridgeError, trace: [String])

    /// The reason of a denial, nil when allowed: what the table-driven tests compare.
    public var deniedReason: Reason? {
        if case .deny(let error, _) = self { return error.reason }
        return nil
    }
}

/// The hook every operation passes through before it touches storage. Decisions are pure and deterministic.
public protocol Policy: Sendable {
    func decide(_ request: PolicyRequest) -> PolicyDecision
}

/// The catalog's policy: role → tools and transitions from `roles.yaml`, thread rules (membership, closed,
/// blocked), and the approval rules of `approvals.yaml`. The same request and catalog always give the same
/// decision and reason; the trace says which rule decided.
public struct CatalogPolicy: Policy {
    public let catalog: PolicyCatalog

    public init(catalog: PolicyCatalog) {
        self.catalog = catalog
    }

    /// Operations that act inside a thread and so need membership (unless the role bypasses it).
    static let membershipOperations: Set<BridgeOperation> = [
        .threadSetStatus, .threadLeave, .messagePost, .messageRead, .messageAck, .approvalRequest, .wakeTrigger,
    ]
    /// Operations that would change a closed thread.
    static let closedThreadOperations: Set<BridgeOperation> = [.threadJoin, .messagePost, .approvalRequest, .wakeTrigger]

    public func decide(_ request: PolicyRequest) -> PolicyDecision {
        let role = request.identity.role
        let permissions = catalog.permissions(of: role)
        var trace = ["role=\(role.rawValue)", "operation=\(request.operation.rawValue)"]
        guard permissions.tools.contains(request.operation) else {
            trace.append("roles.yaml: \(role.rawValue) lacks \(request.operation.rawValue)")
            return .deny(BridgeError(.permissionDenied, .roleNotPermitted, "The \(role.rawValue) role may not call \(request.operation.rawValue).",
                                     details: ["role": role.rawValue]), trace: trace)
        }
        if let transition = request.transition, !permissions.transitions.contains(transition) {
            trace.append("roles.yaml: \(role.rawValue) lacks transition \(transition.rawValue)")
            return .deny(BridgeError(.permissionDenied, .roleNotPermitted, "The \(role.rawValue) role may not \(transition.rawValue) a thread.",
                                     details: ["role": role.rawValue, "transition": transition.rawValue]), trace: trace)
        }
        if let thread = request.thread {
            trace.append("thread=\(thread.status.rawValue) member=\(thread.callerIsMember)")
            if Self.membershipOperations.contains(request.operation) && !thread.callerIsMember && !permissions.bypassMembership {
                return .deny(BridgeError(.permissionDenied, .notAMember, "You are not a member of this thread; join it first."), trace: trace)
            }
            if thread.status == .closed && Self.closedThreadOperations.contains(request.operation) {
                return .deny(BridgeError(.failedPrecondition, .threadClosed, "The thread is closed."), trace: trace)
            }
            if thread.status == .blocked && request.operation == .messagePost && !permissions.postWhenBlocked {
                return .deny(BridgeError(.failedPrecondition, .threadBlocked,
                                         "The thread is blocked; only operators and approvers may post until it is unblocked."), trace: trace)
            }
        }
        if let ticket = request.ticket {
            trace.append("ticket.requester=\(ticket.requester) action_class=\(ticket.actionClass)")
            switch request.operation {
            case .approvalDecide:
                if ticket.requester == request.identity.handle {
                    return .deny(BridgeError(.permissionDenied, .selfApprovalForbidden, "Nobody may decide their own approval ticket."), trace: trace)
                }
                let approvers = catalog.actionClasses[ticket.actionClass]?.approverRoles ?? []
                guard approvers.contains(role) else {
                    trace.append("approvals.yaml: \(ticket.actionClass) approvers \(approvers.map(\.rawValue).sorted())")
                    return .deny(BridgeError(.permissionDenied, .approverRoleRequired,
                                             "\(ticket.actionClass) tickets are decided by: \(approvers.map(\.rawValue).sorted().joined(separator: ", ")).",
                                             details: ["role": role.rawValue]), trace: trace)
                }
            case .approvalCancel:
                if ticket.requester != request.identity.handle && !permissions.bypassMembership {
                    return .deny(BridgeError(.permissionDenied, .notTicketRequester, "Only the requester may cancel a ticket."), trace: trace)
                }
            default:
                break
            }
        }
        return .allow
    }
}
