import Foundation

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

/// What policy knows of a message being posted, beyond its thread: the recipients, the reply and the author's
/// post allowance. The post statement reads these facts in the same statement that guards its write on them.
public struct MessagePostFacts: Sendable, Hashable {
    /// The thread's last seq when the statement ran.
    public var lastSeq: Int64
    /// The seq the message replies to, if any.
    public var replyToSeq: Int64?
    /// Recipients (`to`) who are not members of the thread, sorted.
    public var recipientsNotMembers: [String]
    /// Posts the author may make now under the catalog's rate limit; nil when no limit applies.
    public var allowance: Double?
    /// How many posts the allowance regains per second, when a limit applies.
    public var allowancePerSecond: Double?

    public init(
        lastSeq: Int64,
        replyToSeq: Int64? = nil,
        recipientsNotMembers: [String] = [],
        allowance: Double? = nil,
        allowancePerSecond: Double? = nil
    ) {
        self.lastSeq = lastSeq
        self.replyToSeq = replyToSeq
        self.recipientsNotMembers = recipientsNotMembers
        self.allowance = allowance
        self.allowancePerSecond = allowancePerSecond
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
    /// For a post, what the statement found of its recipients, reply and rate allowance; post rules are skipped without it.
    public var post: MessagePostFacts?

    public init(
        identity: Identity,
        operation: BridgeOperation,
        transition: ThreadStatus.Transition? = nil,
        thread: ThreadFacts? = nil,
        ticket: TicketFacts? = nil,
        post: MessagePostFacts? = nil
    ) {
        self.identity = identity
        self.operation = operation
        self.transition = transition
        self.thread = thread
        self.ticket = ticket
        self.post = post
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
    /// Operations on the caller's own membership, which no role bypasses: a cursor or a seat belongs to a member.
    static let ownMembershipOperations: Set<BridgeOperation> = [.threadLeave, .messageAck]
    /// Operations that would change a closed thread.
    static let closedThreadOperations: Set<BridgeOperation> = [.threadJoin, .messagePost, .approvalRequest, .wakeTrigger]

    /// One rule about the thread an operation targets (or the message it posts): the facts it reads and the
    /// refusal it gives. The first rule that refuses decides.
    public struct ThreadRule: Sendable {
        /// A short name for the decision trace and the tests.
        public let name: String
        let refusal: @Sendable (PolicyRequest, ThreadFacts, PolicyCatalog.RolePermissions) -> BridgeError?
    }

    /// The thread and post rules, in the order a caller is told about them: the one table refusal reasons come from.
    ///
    /// The post statement (`PostMessageStatement` in BridgeStore) guards its write on the same facts, in the same
    /// statement, so no check-then-act race separates the decision from the write; when a guard trips, the statement
    /// returns the facts and these rules say why.
    public static let threadRules: [ThreadRule] = [
        ThreadRule(name: "membership") { request, thread, permissions in
            guard membershipOperations.contains(request.operation), !thread.callerIsMember else { return nil }
            if permissions.bypassMembership && !ownMembershipOperations.contains(request.operation) { return nil }
            return BridgeError(.permissionDenied, .notAMember, "You are not a member of this thread; join it first.")
        },
        ThreadRule(name: "closed") { request, thread, _ in
            guard thread.status == .closed, closedThreadOperations.contains(request.operation) else { return nil }
            return BridgeError(.failedPrecondition, .threadClosed, "The thread is closed.")
        },
        ThreadRule(name: "blocked") { request, thread, permissions in
            guard thread.status == .blocked, request.operation == .messagePost, !permissions.postWhenBlocked else { return nil }
            return BridgeError(
                .failedPrecondition,
                .threadBlocked,
                "The thread is blocked; only operators and approvers may post until it is unblocked."
            )
        },
        ThreadRule(name: "recipients") { request, _, _ in
            guard let strangers = request.post?.recipientsNotMembers, !strangers.isEmpty else { return nil }
            return BridgeError(
                .invalidArgument,
                .unknownRecipient,
                "Not members of this thread: \(strangers.joined(separator: ", ")).",
                details: ["field": "to", "handles": strangers.joined(separator: ",")]
            )
        },
        ThreadRule(name: "reply_to") { request, _, _ in
            guard let post = request.post, let reply = post.replyToSeq, reply > post.lastSeq else { return nil }
            return BridgeError(
                .invalidArgument,
                .replyToUnknownSeq,
                "reply_to_seq \(reply) is beyond the thread's last seq \(post.lastSeq).",
                details: ["field": "reply_to_seq"]
            )
        },
        ThreadRule(name: "rate_limit") { request, _, _ in
            guard let post = request.post, let allowance = post.allowance, allowance < 1 else { return nil }
            let wait = max(0.001, (1 - allowance) / max(post.allowancePerSecond ?? 0, 1e-9))
            return BridgeError(
                .resourceExhausted,
                .rateLimited,
                "You are posting faster than the rate limit allows; retry in \(String(format: "%.1f", wait)) s.",
                details: ["retry_after_seconds": String(format: "%.3f", wait)]
            )
        },
    ]

    public func decide(_ request: PolicyRequest) -> PolicyDecision {
        let role = request.identity.role
        let permissions = catalog.permissions(of: role)
        var trace = ["role=\(role.rawValue)", "operation=\(request.operation.rawValue)"]
        guard permissions.tools.contains(request.operation) else {
            trace.append("roles.yaml: \(role.rawValue) lacks \(request.operation.rawValue)")
            return .deny(
                BridgeError(
                    .permissionDenied,
                    .roleNotPermitted,
                    "The \(role.rawValue) role may not call \(request.operation.rawValue).",
                    details: ["role": role.rawValue]
                ),
                trace: trace
            )
        }
        if let transition = request.transition, !permissions.transitions.contains(transition) {
            trace.append("roles.yaml: \(role.rawValue) lacks transition \(transition.rawValue)")
            return .deny(
                BridgeError(
                    .permissionDenied,
                    .roleNotPermitted,
                    "The \(role.rawValue) role may not \(transition.rawValue) a thread.",
                    details: ["role": role.rawValue, "transition": transition.rawValue]
                ),
                trace: trace
            )
        }
        if let thread = request.thread {
            trace.append("thread=\(thread.status.rawValue) member=\(thread.callerIsMember)")
            for rule in Self.threadRules {
                if let refusal = rule.refusal(request, thread, permissions) {
                    trace.append("rule \(rule.name) refused")
                    return .deny(refusal, trace: trace)
                }
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
                    return .deny(
                        BridgeError(
                            .permissionDenied,
                            .approverRoleRequired,
                            "\(ticket.actionClass) tickets are decided by: \(approvers.map(\.rawValue).sorted().joined(separator: ", ")).",
                            details: ["role": role.rawValue]
                        ),
                        trace: trace
                    )
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
