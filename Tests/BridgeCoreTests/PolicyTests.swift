import Testing

@testable import BridgeCore

@Suite struct PolicyTests {
    let policy = CatalogPolicy(catalog: try! repositoryCatalog())

    func reason(
        _ role: Role,
        _ operation: BridgeOperation,
        _ transition: ThreadStatus.Transition? = nil,
        thread: ThreadFacts? = nil,
        ticket: TicketFacts? = nil,
        handle: String = "me"
    ) -> Reason? {
        policy.decide(
            PolicyRequest(
                identity: Identity(workspace: "w", handle: handle, role: role),
                operation: operation,
                transition: transition,
                thread: thread,
                ticket: ticket
            )
        ).deniedReason
    }

    static let active = ThreadFacts(status: .active, callerIsMember: true)
    static let blocked = ThreadFacts(status: .blocked, callerIsMember: true)
    static let closed = ThreadFacts(status: .closed, callerIsMember: true)
    static let stranger = ThreadFacts(status: .active, callerIsMember: false)

    /// role × operation on an active thread the caller belongs to: only the role's tools are allowed.
    @Test(arguments: Role.allCases)
    func everyRoleMayCallExactlyItsTools(_ role: Role) {
        let permitted = policy.catalog.permissions(of: role).tools
        for operation in BridgeOperation.allCases {
            let expected: Reason? = permitted.contains(operation) ? nil : .roleNotPermitted
            #expect(reason(role, operation, thread: Self.active) == expected, "\(role) \(operation)")
        }
    }

    /// The thread-state matrix for posting, by role: (role, thread) → expected denial.
    @Test(
        arguments: [
            (Role.coordinator, active, nil), (.coordinator, blocked, .threadBlocked), (.coordinator, closed, .threadClosed),
            (.coordinator, stranger, .notAMember), (.executioner, blocked, .threadBlocked), (.reviewer, stranger, .notAMember),
            (.approver, blocked, nil), (.approver, closed, .threadClosed), (.approver, stranger, .notAMember),
            (.operator, blocked, nil), (.operator, stranger, nil), (.operator, closed, .threadClosed),
            (.observer, active, .roleNotPermitted), (.observer, blocked, .roleNotPermitted),
        ] as [(Role, ThreadFacts, Reason?)]
    )
    func postingDependsOnRoleAndThreadState(_ role: Role, _ thread: ThreadFacts, _ expected: Reason?) {
        #expect(reason(role, .messagePost, thread: thread) == expected)
    }

    @Test(
        arguments: [
            (Role.coordinator, ThreadStatus.Transition.close, nil), (.reviewer, .close, .roleNotPermitted),
            (.executioner, .escalate, nil), (.executioner, .unblock, .roleNotPermitted), (.approver, .unblock, nil),
            (.operator, .close, nil), (.operator, .unblock, nil), (.observer, .escalate, .roleNotPermitted),
        ] as [(Role, ThreadStatus.Transition, Reason?)]
    )
    func transitionsNeedTheRightRole(_ role: Role, _ transition: ThreadStatus.Transition, _ expected: Reason?) {
        #expect(reason(role, .threadSetStatus, transition, thread: Self.active) == expected)
    }

    @Test func approvalDecisionsFollowTheActionClassRules() {
        let fsWrite = TicketFacts(requester: "worker", actionClass: "fs_write")
        let external = TicketFacts(requester: "worker", actionClass: "external_side_effect")
        #expect(reason(.approver, .approvalDecide, ticket: fsWrite) == nil)
        #expect(reason(.operator, .approvalDecide, ticket: fsWrite) == nil)
        #expect(reason(.operator, .approvalDecide, ticket: external) == .approverRoleRequired)
        #expect(reason(.approver, .approvalDecide, ticket: fsWrite, handle: "worker") == .selfApprovalForbidden)
        #expect(reason(.coordinator, .approvalDecide, ticket: fsWrite) == .roleNotPermitted)
        #expect(reason(.executioner, .approvalCancel, ticket: fsWrite, handle: "worker") == nil)
        #expect(reason(.executioner, .approvalCancel, ticket: fsWrite) == .notTicketRequester)
        #expect(reason(.operator, .approvalCancel, ticket: fsWrite) == nil)
    }

    @Test func theSameRequestAlwaysGetsTheSameDecision() {
        let request = PolicyRequest(identity: Identity(workspace: "w", handle: "x", role: .reviewer), operation: .messagePost, thread: Self.blocked)
        let reasons = (0..<100).map { _ in policy.decide(request).deniedReason }
        #expect(Set(reasons.map { $0?.rawValue ?? "allow" }) == ["THREAD_BLOCKED"])
    }

    func postReason(_ role: Role, thread: ThreadFacts = active, post: MessagePostFacts) -> Reason? {
        policy.decide(
            PolicyRequest(
                identity: Identity(workspace: "w", handle: "me", role: role),
                operation: .messagePost,
                thread: thread,
                post: post
            )
        ).deniedReason
    }

    static let calm = MessagePostFacts(lastSeq: 7)

    /// The post rules beyond the thread's state, each alone: the statement's facts → the reason a caller is told.
    @Test(
        arguments: [
            (calm, nil),
            (MessagePostFacts(lastSeq: 7, recipientsNotMembers: ["bob"]), .unknownRecipient),
            (MessagePostFacts(lastSeq: 7, replyToSeq: 7), nil),
            (MessagePostFacts(lastSeq: 7, replyToSeq: 8), .replyToUnknownSeq),
            (MessagePostFacts(lastSeq: 7, allowance: 1, allowancePerSecond: 0.5), nil),
            (MessagePostFacts(lastSeq: 7, allowance: 0.4, allowancePerSecond: 0.5), .rateLimited),
        ] as [(MessagePostFacts, Reason?)]
    )
    func postFactsDecideTheirOwnRule(_ post: MessagePostFacts, _ expected: Reason?) {
        #expect(postReason(.executioner, post: post) == expected)
    }

    /// When several rules refuse, the table's order decides which one the caller hears: membership, closed,
    /// blocked, recipients, reply, rate limit.
    @Test func theFirstRefusingRuleInTheTableDecides() {
        let everything = MessagePostFacts(lastSeq: 1, replyToSeq: 9, recipientsNotMembers: ["x"], allowance: 0, allowancePerSecond: 1)
        #expect(postReason(.executioner, thread: ThreadFacts(status: .closed, callerIsMember: false), post: everything) == .notAMember)
        #expect(postReason(.executioner, thread: Self.closed, post: everything) == .threadClosed)
        #expect(postReason(.executioner, thread: Self.blocked, post: everything) == .threadBlocked)
        #expect(postReason(.executioner, post: everything) == .unknownRecipient)
        #expect(
            postReason(.executioner, post: MessagePostFacts(lastSeq: 1, replyToSeq: 9, allowance: 0, allowancePerSecond: 1)) == .replyToUnknownSeq
        )
        #expect(postReason(.executioner, post: MessagePostFacts(lastSeq: 1, allowance: 0, allowancePerSecond: 1)) == .rateLimited)
        #expect(CatalogPolicy.threadRules.map(\.name) == ["membership", "closed", "blocked", "recipients", "reply_to", "rate_limit"])
    }

    /// An operator bypasses membership to post, read or steer a thread, but a cursor or a seat is a member's own.
    @Test func bypassingMembershipStopsAtTheCallersOwnMembership() {
        for operation in [BridgeOperation.messagePost, .messageRead, .threadSetStatus, .wakeTrigger] {
            #expect(reason(.operator, operation, .escalate, thread: Self.stranger) == nil, "\(operation)")
        }
        #expect(reason(.operator, .messageAck, thread: Self.stranger) == .notAMember)
        #expect(reason(.operator, .threadLeave, thread: Self.stranger) == .notAMember)
        #expect(reason(.approver, .messageRead, thread: Self.stranger) == .notAMember)
    }

    /// A rate-limit refusal says how long to wait, from the allowance's refill rate.
    @Test func aRateLimitRefusalSaysWhenToRetry() throws {
        let decision = policy.decide(
            PolicyRequest(
                identity: Identity(workspace: "w", handle: "me", role: .executioner),
                operation: .messagePost,
                thread: Self.active,
                post: MessagePostFacts(lastSeq: 0, allowance: 0.5, allowancePerSecond: 0.25)
            )
        )
        guard case .deny(let error, let trace) = decision else {
            Issue.record("expected a denial")
            return
        }
        #expect(error.code == .resourceExhausted)
        #expect(error.details["retry_after_seconds"] == "2.000")
        #expect(trace.last == "rule rate_limit refused")
    }
}

@Suite struct LimitsTests {
    let limits = Limits(maxBodyBytes: 4, maxPayloadBytes: 10, maxWaitSeconds: 30, maxReadLimit: 100)

    @Test func bodiesAreMeasuredInUTF8BytesAndNamedByField() throws {
        try limits.checkMessage(body: "abcd", payloadBytes: 10)
        do {
            try limits.checkMessage(body: "ééé", payloadBytes: nil, fieldPrefix: "message.")
            Issue.record("a 6-byte body passed a 4-byte limit")
        } catch {
            #expect(error.reason == .bodyTooLarge)
            #expect(error.details["field"] == "message.body")
        }
        #expect(throws: BridgeError.self) { try limits.checkMessage(body: "", payloadBytes: 11) }
    }

    @Test(arguments: [(nil, 50), (0, 1), (-5, 1), (7, 7), (100, 100), (101, 100)] as [(Int?, Int)])
    func readLimitsAreClamped(_ requested: Int?, _ expected: Int) {
        #expect(limits.readLimit(requested) == expected)
    }

    @Test(arguments: [(nil, 0), (-1, 0), (2.5, 2.5), (31, 30)] as [(Double?, Double)])
    func waitsAreClamped(_ requested: Double?, _ expected: Double) {
        #expect(limits.waitSeconds(requested) == expected)
    }
}
