import BridgeCore
import BridgeStore
import Foundation
import Logging

extension BridgeAPI {
    /// Answers a Claude Code permission question (`claude -p --permission-prompt-tool`).
    ///
    /// The tool call is classified by the catalog's `permission_prompt` rules; its action class's rule decides.
    /// `allow` and `deny` answer at once and are audited as `permission.allow` / `permission.deny`.
    /// `require_approval` opens a ticket exactly as `v1_approval_request` does, in the call's `thread_id` or else
    /// the thread this session was woken for, and waits — woken by the thread's NOTIFY, bounded by the ticket's
    /// TTL — for a human decision. Every deny message ends with its reason code in parentheses.
    ///
    /// - Parameter idempotency: keyed by the tool-use id, so a repeated prompt for one tool use waits on one ticket.
    public func answerPermissionPrompt(
        _ input: PermissionPromptInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> PermissionPromptOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .permissionPrompt), context: context)
        let catalog = configuration.catalog
        guard let classification = catalog.permissionPrompt.classify(toolName: input.toolName, input: input.input),
            let rule = catalog.actionClasses[classification.actionClass]
        else {
            return await answerAtOnce(
                Self.denial(
                    "The policy catalog has no permission_prompt rules (approvals.yaml), so \(input.toolName) cannot be allowed.",
                    .noPermissionRule
                ),
                reason: .noPermissionRule,
                input: input,
                classification: nil,
                context: context
            )
        }
        switch rule.decision {
        case .allow:
            // An allow that cannot be audited is not given: the failure goes back to the client.
            try await store.recordPermissionAnswer(
                answerRecord(input, classification, behavior: "allow", reason: .autoApprovedPolicy),
                context: context
            )
            logAnswer(input, classification, behavior: "allow", reason: .autoApprovedPolicy, context: context)
            return .allow(updatedInput: input.input)
        case .deny:
            let reason: Reason = classification.matchedCommandPattern == nil ? .deniedByPolicy : .destructiveCommand
            let why =
                classification.matchedCommandPattern == nil
                ? "Denied by policy: \(input.toolName) is in action class \(classification.actionClass), which approvals.yaml denies."
                : "Denied by policy: the \(input.toolName) command matches a destructive pattern (action class \(classification.actionClass))."
            return await answerAtOnce(Self.denial(why, reason), reason: reason, input: input, classification: classification, context: context)
        case .requireApproval:
            guard let threadID = input.threadID ?? configuration.wakeThreadID else {
                return await answerAtOnce(
                    Self.denial(
                        "\(input.toolName) needs a human's approval (action class \(classification.actionClass)), but there is no thread "
                            + "to ask in: pass thread_id, or start serve with AGENT_BRIDGE_WAKE_THREAD_ID.",
                        .noPermissionThread
                    ),
                    reason: .noPermissionThread,
                    input: input,
                    classification: classification,
                    context: context
                )
            }
            let request = ApprovalRequestInput(
                threadID: threadID,
                actionClass: classification.actionClass,
                resource: classification.resource,
                summary: Self.summary(of: input),
                risk: nil
            )
            let opened = try await requestApproval(request, context: context, idempotency: idempotency).ticket
            let (answer, reason) = try await awaitDecision(on: opened, input: input, context: context)
            if case .allow = answer {
                logAnswer(input, classification, behavior: "allow", reason: reason, context: context, ticket: opened.id)
            } else {
                logAnswer(input, classification, behavior: "deny", reason: reason, context: context, ticket: opened.id)
            }
            return answer
        }
    }

    /// Waits until the ticket leaves pending or its TTL passes, then turns its state into the answer.
    func awaitDecision(
        on opened: ApprovalTicket,
        input: PermissionPromptInput,
        context: CallContext
    ) async throws(BridgeError) -> (answer: PermissionPromptOutput, reason: Reason) {
        enum Wait: Sendable {
            case settled(ApprovalTicket)
            case cancelled
        }
        var ticket = opened
        if ticket.state == .pending {
            // Past expires_at the store reads the ticket as expired; the grace lets that last read see it so.
            let remaining = Duration.milliseconds(Int64(max(0, ticket.expiresAt.timeIntervalSinceNow) * 1000)) + .seconds(1)
            let id = ticket.id
            let outcome = try await longPoll(threads: [ticket.threadID], until: ContinuousClock.now + remaining) {
                () async throws(BridgeError) -> Wait? in
                let current = try await store.ticket(id, context: context)
                return current.state == .pending ? nil : .settled(current)
            } final: { () async throws(BridgeError) -> Wait in
                // A client that disconnected or cancelled gets no answer: do no more work for it.
                if Task.isCancelled { return .cancelled }
                return .settled(try await store.ticket(id, context: context))
            }
            switch outcome {
            case .settled(let settled): ticket = settled
            case .cancelled:
                return (
                    Self.denial("The wait for a decision on ticket \(id.wireString) ended before one came.", .permissionWaitCancelled),
                    .permissionWaitCancelled
                )
            }
        }
        let reference = "ticket \(ticket.id.wireString)"
        let reason: Reason
        let text: String
        switch ticket.state {
        case .approved:
            return (.allow(updatedInput: input.input), Reason(rawValue: ticket.reasonCode ?? "") ?? .approvedByApprover)
        case .denied:
            reason = Reason(rawValue: ticket.reasonCode ?? "") ?? .deniedByApprover
            text = "Denied by \(ticket.decider ?? "an approver") (\(reference))\(ticket.decisionNote.map { ": \($0)" } ?? ".")"
        case .cancelled:
            reason = .cancelledByRequester
            text = "The request was withdrawn by \(ticket.decider ?? "its requester") (\(reference))."
        case .expired, .pending:
            reason = .ticketExpired
            text = "Nobody decided \(reference) before it expired at \(WireCoding.formatTimestamp(ticket.expiresAt))."
        }
        return (Self.denial(text, reason), reason)
    }

    /// A deny answer whose message ends with its reason code, the one place a client can read it in this shape.
    static func denial(_ text: String, _ reason: Reason) -> PermissionPromptOutput {
        .deny(message: "\(text) (\(reason.rawValue))")
    }

    /// The ticket's summary: the tool, its tool-use id and its input, for the human deciding.
    static func summary(of input: PermissionPromptInput) -> String {
        let json = String(decoding: JSONValue.object(input.input).serialized(), as: UTF8.self)
        let shown = json.count <= 3000 ? json : String(json.prefix(2999)) + "…"
        let use = input.toolUseID.map { " (tool use \($0))" } ?? ""
        return "Claude Code asks to run \(input.toolName)\(use) with input \(shown)"
    }

    /// A deny given without a ticket; audited when the audit can be written, and given either way.
    private func answerAtOnce(
        _ answer: PermissionPromptOutput,
        reason: Reason,
        input: PermissionPromptInput,
        classification: PermissionPromptRules.Classification?,
        context: CallContext
    ) async -> PermissionPromptOutput {
        do throws(BridgeError) {
            try await store.recordPermissionAnswer(answerRecord(input, classification, behavior: "deny", reason: reason), context: context)
        } catch {
            logger.warning(
                "A permission denial could not be audited.",
                metadata: [
                    "event": "permission.audit_failed", "request_id": "\(context.requestID)", "reason": "\(error.reason.rawValue)",
                ]
            )
        }
        logAnswer(input, classification, behavior: "deny", reason: reason, context: context)
        return answer
    }

    private func answerRecord(
        _ input: PermissionPromptInput,
        _ classification: PermissionPromptRules.Classification?,
        behavior: String,
        reason: Reason
    ) -> PermissionAnswerRecord {
        PermissionAnswerRecord(
            toolName: input.toolName,
            toolUseID: input.toolUseID,
            actionClass: classification?.actionClass,
            resource: classification?.resource,
            behavior: behavior,
            reason: reason,
            threadID: input.threadID ?? configuration.wakeThreadID
        )
    }

    private func logAnswer(
        _ input: PermissionPromptInput,
        _ classification: PermissionPromptRules.Classification?,
        behavior: String,
        reason: Reason,
        context: CallContext,
        ticket: UUID? = nil
    ) {
        var metadata: Logger.Metadata = [
            "event": "permission.answered", "request_id": "\(context.requestID)", "participant": "\(context.identity.handle)",
            "permission.tool": "\(input.toolName)", "permission.behavior": "\(behavior)", "reason": "\(reason.rawValue)",
        ]
        if let classification { metadata["permission.action_class"] = "\(classification.actionClass)" }
        if let ticket { metadata["ticket_id"] = "\(ticket.wireString)" }
        logger.info("Permission prompt answered.", metadata: metadata)
    }
}
