import BridgeCore
import Foundation
import PostgresNIO

/// A ticket to open, with the state policy already chose for it.
public struct NewApprovalTicket: Sendable {
    public var threadID: UUID
    public var actionClass: String
    public var resource: String
    public var summary: String
    public var risk: ApprovalTicket.Risk
    /// `pending`, or `approved` / `denied` when policy decided at once.
    public var initialState: ApprovalTicket.State
    /// Set when policy decided at once.
    public var reasonCode: Reason?
    public var ttl: Duration
    public var escalateAfter: Duration?

    public init(
        threadID: UUID,
        actionClass: String,
        resource: String,
        summary: String,
        risk: ApprovalTicket.Risk,
        initialState: ApprovalTicket.State,
        reasonCode: Reason?,
        ttl: Duration,
        escalateAfter: Duration?
    ) {
        self.threadID = threadID
        self.actionClass = actionClass
        self.resource = resource
        self.summary = summary
        self.risk = risk
        self.initialState = initialState
        self.reasonCode = reasonCode
        self.ttl = ttl
        self.escalateAfter = escalateAfter
    }
}

extension PostgresStore {
    /// Opens a ticket. `authorize` sees the thread's state under its row lock, so policy decides on what is committed.
    public func requestApproval(
        _ new: NewApprovalTicket,
        context: CallContext,
        idempotency: IdempotencyScope?,
        authorize: @escaping @Sendable (ThreadFacts) throws(BridgeError) -> Void
    ) async throws(BridgeError) -> (ApprovalTicket, deduplicated: Bool) {
        let identity = context.identity
        return try await idempotentTransaction(idempotency, context: context) { connection in
            try authorize(try await self.lockedThreadFacts(new.threadID, on: connection, identity: identity))
            let id = UUID()
            let decided = new.initialState != .pending
            try await connection.query(
                """
                INSERT INTO approval_tickets (id, workspace_id, thread_id, requester, action_class, resource, summary, risk, state,
                                              decider, reason_code, decided_at, expires_at, escalate_at, request_id)
                VALUES (\(id), \(identity.workspace), \(new.threadID), \(identity.handle), \(new.actionClass), \(new.resource),
                        \(new.summary), \(new.risk.rawValue), \(new.initialState.rawValue), \(decided ? "policy" : nil),
                        \(new.reasonCode?.rawValue), CASE WHEN \(decided) THEN now() END,
                        now() + make_interval(secs => \(Double(new.ttl.wholeSeconds))),
                        now() + make_interval(secs => \(new.escalateAfter.map { Double($0.wholeSeconds) })),
                        \(context.requestID))
                """,
                logger: self.logger
            )
            let outcome = decided ? " — \(new.initialState.rawValue) by policy (\(new.reasonCode?.rawValue ?? ""))" : " — waiting for an approver"
            try await self.postSystemMessage(
                threadID: new.threadID,
                to: decided ? [identity.handle] : [],
                body: "Approval requested by \(identity.handle): [\(new.actionClass)] \(new.resource)\(outcome). Ticket \(id.wireString).",
                payload: ["ticket_id": .string(id.wireString), "state": .string(new.initialState.rawValue)],
                on: connection,
                context: context
            )
            try await Self.audit(
                connection,
                context: context,
                action: "approval.request",
                target: "ticket:\(id.wireString)",
                after: [
                    "state": .string(new.initialState.rawValue), "action_class": .string(new.actionClass),
                    "thread_id": .string(new.threadID.wireString),
                ],
                reason: new.reasonCode?.rawValue,
                logger: self.logger
            )
            return try await self.ticket(id, on: connection, workspace: identity.workspace)
        }
    }

    /// One ticket as a reader sees it, or `TICKET_NOT_FOUND`.
    public func ticket(_ id: UUID, context: CallContext) async throws(BridgeError) -> ApprovalTicket {
        let workspace = context.identity.workspace
        return try await withConnection { connection in try await self.ticket(id, on: connection, workspace: workspace) }
    }

    /// Tickets newest first, optionally of one state (as readers see it) and one thread.
    public func tickets(state: ApprovalTicket.State?, threadID: UUID?, limit: Int, context: CallContext) async throws(BridgeError) -> [ApprovalTicket]
    {
        let workspace = context.identity.workspace
        return try await withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: TicketRow.columns) FROM approval_tickets a
                 WHERE a.workspace_id = \(workspace) AND (\(threadID)::uuid IS NULL OR a.thread_id = \(threadID))
                   AND (\(state?.rawValue)::text IS NULL
                        OR (CASE WHEN a.state = 'pending' AND a.expires_at <= now() THEN 'expired' ELSE a.state END) = \(state?.rawValue))
                 ORDER BY a.created_at DESC, a.id
                 LIMIT \(limit)
                """,
                logger: self.logger
            )
            var tickets: [ApprovalTicket] = []
            for try await row in rows { tickets.append(try TicketRow(row).ticket) }
            return tickets
        }
    }

    /// Moves a pending ticket to a final state. Concurrent deciders queue on the ticket's row lock:
    /// the first wins, the rest see `TICKET_ALREADY_DECIDED`. `authorize` sees the ticket before anything changes.
    public func settleTicket(
        _ id: UUID,
        to state: ApprovalTicket.State,
        reasonCode: Reason,
        note: String?,
        decider: String,
        context: CallContext,
        idempotency: IdempotencyScope?,
        authorize: @escaping @Sendable (TicketFacts) throws(BridgeError) -> Void
    ) async throws(BridgeError) -> (ApprovalTicket, deduplicated: Bool) {
        let workspace = context.identity.workspace
        return try await idempotentTransaction(idempotency, context: context) { connection in
            let rows = try await connection.query(
                """
                SELECT a.requester, a.action_class, a.thread_id, a.state, a.expires_at <= now() AS is_past_expiry
                  FROM approval_tickets a WHERE a.id = \(id) AND a.workspace_id = \(workspace) FOR UPDATE
                """,
                logger: self.logger
            )
            var found: (requester: String, actionClass: String, threadID: UUID, current: String, isPastExpiry: Bool)?
            for try await row in rows {
                let cells = row.makeRandomAccess()
                found = (
                    try cells.value("requester"), try cells.value("action_class"), try cells.value("thread_id"),
                    try cells.value("state"), try cells.value("is_past_expiry")
                )
            }
            guard let (requester, actionClass, threadID, current, isPastExpiry) = found else { throw Self.ticketNotFound(id) }
            try authorize(TicketFacts(requester: requester, actionClass: actionClass))
            if current == ApprovalTicket.State.expired.rawValue || (current == ApprovalTicket.State.pending.rawValue && isPastExpiry) {
                throw BridgeError(
                    .failedPrecondition,
                    .ticketExpired,
                    "The ticket expired before a decision; request a new one.",
                    details: ["ticket_id": id.wireString]
                )
            }
            guard current == ApprovalTicket.State.pending.rawValue else {
                throw BridgeError(
                    .failedPrecondition,
                    .ticketAlreadyDecided,
                    "The ticket is already \(current); the first decision stands.",
                    details: ["ticket_id": id.wireString, "state": current]
                )
            }
            try await connection.query(
                """
                UPDATE approval_tickets SET state = \(state.rawValue), decider = \(decider), reason_code = \(reasonCode.rawValue),
                       decision_note = \(note), decided_at = now()
                 WHERE id = \(id)
                """,
                logger: self.logger
            )
            let noteText = note.map { ": \($0)" } ?? "."
            try await self.postSystemMessage(
                threadID: threadID,
                to: state == .cancelled ? [] : [requester],
                body: "Ticket \(id.wireString) [\(actionClass)] \(state.rawValue) by \(decider)\(noteText)",
                payload: ["ticket_id": .string(id.wireString), "state": .string(state.rawValue)],
                on: connection,
                context: context
            )
            try await Self.audit(
                connection,
                context: context,
                action: "approval.\(state.rawValue)",
                target: "ticket:\(id.wireString)",
                before: ["state": .string(current)],
                after: ["state": .string(state.rawValue)],
                reason: note ?? reasonCode.rawValue,
                logger: self.logger
            )
            return try await self.ticket(id, on: connection, workspace: workspace)
        }
    }

    // MARK: - Helpers

    func ticket(_ id: UUID, on connection: PostgresConnection, workspace: String) async throws -> ApprovalTicket {
        let rows = try await connection.query(
            "SELECT \(unescaped: TicketRow.columns) FROM approval_tickets a WHERE a.id = \(id) AND a.workspace_id = \(workspace)",
            logger: logger
        )
        for try await row in rows { return try TicketRow(row).ticket }
        throw Self.ticketNotFound(id)
    }

    static func ticketNotFound(_ id: UUID) -> BridgeError {
        BridgeError(
            .notFound,
            .ticketNotFound,
            "No approval ticket \(id.wireString) in this workspace.",
            details: ["ticket_id": id.wireString]
        )
    }

    /// Appends a `system` message in the caller's transaction, through the same statement, seq counter and
    /// NOTIFY as a post; it passes every post guard.
    func postSystemMessage(
        threadID: UUID,
        to: [String],
        body: String,
        payload: [String: JSONValue],
        on connection: PostgresConnection,
        context: CallContext
    ) async throws {
        let message = NewMessage(
            threadID: threadID,
            kind: .system,
            to: to,
            replyToSeq: nil,
            body: body,
            payload: .object(payload),
            schemaVersion: SchemaVersion.current
        )
        let statement = PostMessageStatement(systemMessage: message, context: context)
        _ = try await guardedPost(statement, message: message, on: connection) { _, _ throws(BridgeError) in }
    }
}
