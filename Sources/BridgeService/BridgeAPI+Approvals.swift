import BridgeCore
import BridgeStore
import Foundation

extension BridgeAPI {
    /// Opens a ticket; the action class's rule may approve or deny it at once.
    public func requestApproval(
        _ input: ApprovalRequestInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ApprovalChangeOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .approvalRequest), context: context)
        guard let rule = configuration.catalog.actionClasses[input.actionClass] else {
            let known = configuration.catalog.actionClasses.keys.sorted().joined(separator: ", ")
            throw BridgeError(
                .invalidArgument,
                .unknownActionClass,
                "Unknown action_class \(input.actionClass); known: \(known).",
                details: ["field": "action_class"]
            )
        }
        let (state, reason): (ApprovalTicket.State, Reason?) =
            switch rule.decision {
            case .allow: (.approved, .autoApprovedPolicy)
            case .deny: (.denied, .deniedByPolicy)
            case .requireApproval: (.pending, nil)
            }
        let new = NewApprovalTicket(
            threadID: input.threadID,
            actionClass: input.actionClass,
            resource: input.resource,
            summary: input.summary,
            risk: input.risk ?? .medium,
            initialState: state,
            reasonCode: reason,
            ttl: rule.ttl,
            escalateAfter: rule.escalateAfter
        )
        let (ticket, deduplicated) = try await store.requestApproval(
            new,
            context: context,
            idempotency: idempotency,
            authorize: threadRules(.approvalRequest, threadID: new.threadID, context: context)
        )
        return ApprovalChangeOutput(ticket: ticket, deduplicated: deduplicated)
    }

    /// A ticket; with `wait_seconds`, returns the moment it leaves pending (its state change posts to its thread).
    public func getApproval(_ input: ApprovalGetInput, context: CallContext) async throws(BridgeError) -> ApprovalGetOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .approvalGet), context: context)
        let first = try await store.ticket(input.ticketID, context: context)
        guard first.state == .pending, (input.waitSeconds ?? 0) > 0 else { return ApprovalGetOutput(ticket: first) }
        let ticket = try await longPoll(threads: [first.threadID], waitSeconds: input.waitSeconds) { () async throws(BridgeError) in
            let ticket = try await store.ticket(input.ticketID, context: context)
            return ticket.state == .pending ? nil : ticket
        } final: { () async throws(BridgeError) in
            try await store.ticket(input.ticketID, context: context)
        }
        return ApprovalGetOutput(ticket: ticket)
    }

    /// Approves or denies; `decider` defaults to the caller's handle (the operator CLI passes `operator:NAME`).
    public func decideApproval(
        _ input: ApprovalDecideInput,
        decider: String? = nil,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ApprovalChangeOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .approvalDecide), context: context)
        let approve = input.decision == .approve
        let (ticket, deduplicated) = try await store.settleTicket(
            input.ticketID,
            to: approve ? .approved : .denied,
            reasonCode: approve ? .approvedByApprover : .deniedByApprover,
            note: input.note,
            decider: decider ?? context.identity.handle,
            context: context,
            idempotency: idempotency
        ) { facts throws(BridgeError) in
            try self.authorize(PolicyRequest(identity: context.identity, operation: .approvalDecide, ticket: facts), context: context)
        }
        return ApprovalChangeOutput(ticket: ticket, deduplicated: deduplicated)
    }

    public func listApprovals(_ input: ApprovalListInput, context: CallContext) async throws(BridgeError) -> ApprovalListOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .approvalList), context: context)
        let limit = min(max(input.limit ?? 50, 1), 200)
        return ApprovalListOutput(tickets: try await store.tickets(state: input.state, threadID: input.threadID, limit: limit, context: context))
    }

    /// The requester withdraws a pending ticket.
    public func cancelApproval(
        _ input: ApprovalCancelInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ApprovalChangeOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .approvalCancel), context: context)
        let (ticket, deduplicated) = try await store.settleTicket(
            input.ticketID,
            to: .cancelled,
            reasonCode: .cancelledByRequester,
            note: input.reason,
            decider: context.identity.handle,
            context: context,
            idempotency: idempotency
        ) { facts throws(BridgeError) in
            try self.authorize(PolicyRequest(identity: context.identity, operation: .approvalCancel, ticket: facts), context: context)
        }
        return ApprovalChangeOutput(ticket: ticket, deduplicated: deduplicated)
    }
}
