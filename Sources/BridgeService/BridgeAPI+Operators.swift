import BridgeCore
import BridgeStore
import Foundation

/// What the operator CLI does (ARCHITECTURE.md, Operators), through the same policy and store as the MCP tools.
/// The caller's identity has `origin: .operator`, so every audit row names `operator:NAME`.
extension BridgeAPI {
    /// The prefix an operator's override-close reason must carry.
    public static let overrideReasonPrefix = "human_override:"

    /// Thread, members and cursors, recent messages, tickets and the audit tail.
    public func inspectThread(
        _ threadID: UUID,
        messageLimit: Int = 20,
        auditLimit: Int = 20,
        context: CallContext
    ) async throws(BridgeError) -> ThreadInspection {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadGet), context: context)
        return try await store.inspectThread(
            threadID,
            messageLimit: min(max(messageLimit, 0), 500),
            auditLimit: min(max(auditLimit, 0), 500),
            context: context
        )
    }

    /// Escalates (`active → blocked`), unblocks (`blocked → active`) or closes a thread as an operator.
    /// A close by an operator is an override and needs a reason `human_override:WHY`.
    public func operatorSetStatus(
        _ threadID: UUID,
        transition: ThreadStatus.Transition,
        reason: String,
        context: CallContext
    ) async throws(BridgeError) -> ThreadSetStatusOutput {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else {
            throw BridgeError(
                .invalidArgument,
                .missingRequiredField,
                "Give a --reason: it goes to the thread and the audit trail.",
                details: ["field": "reason"]
            )
        }
        if transition == .close {
            let why =
                reason.hasPrefix(Self.overrideReasonPrefix)
                ? reason.dropFirst(Self.overrideReasonPrefix.count).trimmingCharacters(in: .whitespaces) : ""
            guard !why.isEmpty else {
                throw BridgeError(
                    .invalidArgument,
                    .invalidFieldValue,
                    "An override close needs --reason \(Self.overrideReasonPrefix)WHY, e.g. \(Self.overrideReasonPrefix)superseded by PR 42.",
                    details: ["field": "reason"]
                )
            }
        }
        return try await setThreadStatus(
            ThreadSetStatusInput(threadID: threadID, action: transition, reason: reason),
            context: context,
            idempotency: nil
        )
    }
}

extension BridgeAPI {
    /// The workspace's session leases: one per running `agent-bridge serve`, live while renewed.
    public func sessionLeases(handle: String?, includeEnded: Bool, context: CallContext) async throws(BridgeError) -> [SessionLease] {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadList), context: context)
        return try await store.sessionLeases(workspace: context.identity.workspace, handle: handle, includeEnded: includeEnded)
    }
}
