import BridgeCore
import Foundation
import PostgresNIO

/// A thread a loop guard blocked.
public struct LoopGuardBlock: Sendable, Hashable {
    public var threadID: UUID
    public var trip: LoopGuard.Trip
}

extension PostgresStore {
    /// Runs the loop guards over every active thread's messages since the guards last looked, blocking the
    /// threads that trip one: status `blocked` with the reason, a `system` message, and an audit event
    /// `thread.escalate` (it counts as an escalation). Returns the threads blocked.
    public func runLoopGuards(_ loopGuard: LoopGuard, context: CallContext) async throws(BridgeError) -> [LoopGuardBlock] {
        let workspace = context.identity.workspace
        let due = try await withConnection { connection -> [UUID] in
            let rows = try await connection.query(
                """
                SELECT id FROM threads WHERE workspace_id = \(workspace) AND status = 'active' AND last_seq > guard_checked_seq
                 ORDER BY updated_at LIMIT 500
                """,
                logger: self.logger
            )
            var ids: [UUID] = []
            for try await id in rows.decode(UUID.self) { ids.append(id) }
            return ids
        }
        var blocked: [LoopGuardBlock] = []
        for threadID in due {
            if let trip = try await checkLoopGuards(threadID, loopGuard: loopGuard, context: context) {
                blocked.append(LoopGuardBlock(threadID: threadID, trip: trip))
            }
        }
        return blocked
    }

    /// One thread under its row lock: count the new messages, block it if a guard trips.
    private func checkLoopGuards(_ threadID: UUID, loopGuard: LoopGuard, context: CallContext) async throws(BridgeError) -> LoopGuard.Trip? {
        try await withTransaction { connection -> LoopGuard.Trip? in
            let threadRows = try await connection.query(
                """
                SELECT status, last_seq, guard_checked_seq, guard_baseline_seq, no_progress_turns FROM threads
                 WHERE id = \(threadID) FOR UPDATE
                """,
                logger: self.logger
            )
            var thread: GuardedThreadRow?
            for try await row in threadRows { thread = try GuardedThreadRow(row) }
            guard let thread, thread.status == "active", thread.lastSeq > thread.checkedSeq else { return nil }
            let lastSeq = thread.lastSeq
            let checkedSeq = thread.checkedSeq
            let baselineSeq = thread.baselineSeq

            let messageRows = try await connection.query(
                """
                SELECT m.kind, m.body_hash, coalesce(m.payload->>'event', '') LIKE 'thread.%' AS is_status_change,
                       coalesce(p.runtime_kind = 'human' OR p.role = 'operator', false) AS by_human
                  FROM messages m
                  LEFT JOIN participants p ON p.workspace_id = m.workspace_id AND p.handle = m.author
                 WHERE m.thread_id = \(threadID) AND m.seq > \(checkedSeq) ORDER BY m.seq
                """,
                logger: self.logger
            )
            var observations: [LoopGuard.Observation] = []
            for try await row in messageRows {
                let cells = row.makeRandomAccess()
                let kind: String = try cells.value("kind")
                let isStatusChange: Bool = try cells.value("is_status_change")
                observations.append(
                    LoopGuard.Observation(
                        kind: MessageKind(rawValue: kind) ?? .note,
                        byHuman: try cells.value("by_human"),
                        isStatusChange: kind == MessageKind.system.rawValue && isStatusChange,
                        bodyHash: try cells.value("body_hash")
                    )
                )
            }
            let newFindings = Array(Set(observations.filter { $0.kind == .finding }.map(\.bodyHash)))
            var findingCycles: [String: Int] = [:]
            if !newFindings.isEmpty {
                let countRows = try await connection.query(
                    """
                    SELECT body_hash, count(*)::int AS cycles FROM messages
                     WHERE thread_id = \(threadID) AND kind = 'finding' AND seq > \(baselineSeq) AND body_hash = ANY (\(newFindings))
                     GROUP BY body_hash
                    """,
                    logger: self.logger
                )
                for try await row in countRows {
                    let cells = row.makeRandomAccess()
                    findingCycles[try cells.value("body_hash")] = try cells.value("cycles", as: Int.self)
                }
            }
            let turns = loopGuard.noProgressTurns(after: observations, startingAt: thread.noProgressTurns)
            guard let trip = loopGuard.trip(turns: turns, findingCycles: findingCycles) else {
                try await connection.query(
                    """
                    UPDATE threads SET no_progress_turns = \(turns), guard_checked_seq = \(lastSeq) WHERE id = \(threadID)
                    """,
                    logger: self.logger
                )
                return nil
            }

            let reason = trip.reason.rawValue
            let detail: String
            var payload: [String: JSONValue] = [
                "event": .string("thread.escalate"), "status": .string("blocked"),
                "previous_status": .string("active"), "reason": .string(reason),
                "actor": .string(context.identity.auditActor),
            ]
            switch trip {
            case .noProgress(let count):
                detail = "\(count) agent turns without progress (no result or status message, human message or status change)"
                payload["turns"] = .integer(Int64(count))
            case .repeatedFinding(let hash, let cycles):
                detail = "the same finding was reported \(cycles) times"
                payload["body_hash"] = .string(hash)
                payload["cycles"] = .integer(Int64(cycles))
            }
            try await connection.query(
                """
                UPDATE threads SET status = 'blocked', status_reason = \(reason), no_progress_turns = 0,
                       repeated_finding_cycles = \(findingCycles.values.max() ?? 0), updated_at = now()
                 WHERE id = \(threadID)
                """,
                logger: self.logger
            )
            try await Self.audit(
                connection,
                context: context,
                action: "thread.escalate",
                target: "thread:\(threadID.wireString)",
                before: ["status": .string("active")],
                after: ["status": .string("blocked")],
                reason: reason,
                logger: self.logger
            )
            try await self.postSystemMessage(
                threadID: threadID,
                to: [],
                body: "Thread blocked by the loop guard \(reason): \(detail). An operator or approver can unblock it (agent-bridge unblock-thread).",
                payload: payload,
                on: connection,
                context: context
            )
            // The guards start afresh after the block: its own message, and everything before it, is counted.
            try await connection.query(
                """
                UPDATE threads SET guard_checked_seq = last_seq, guard_baseline_seq = last_seq WHERE id = \(threadID)
                """,
                logger: self.logger
            )
            return trip
        }
    }

    // MARK: - Approval tickets

    /// Escalates pending tickets past their `escalate_at` and expires those past `expires_at` (fail closed),
    /// each with a `system` message in the ticket's thread and an audit event.
    public func sweepApprovals(now: Date, context: CallContext) async throws(BridgeError) -> (escalated: Int, expired: Int) {
        let workspace = context.identity.workspace
        return try await withTransaction { connection in
            let escalatedRows = try await connection.query(
                """
                UPDATE approval_tickets SET escalated_at = \(now)
                 WHERE workspace_id = \(workspace) AND state = 'pending' AND escalated_at IS NULL
                   AND escalate_at <= \(now) AND expires_at > \(now)
                RETURNING id, thread_id, action_class, resource, requester
                """,
                logger: self.logger
            )
            let escalated = try await Self.sweptTickets(escalatedRows)
            for swept in escalated {
                let (id, threadID, actionClass, resource, requester) = (swept.id, swept.threadID, swept.actionClass, swept.resource, swept.requester)
                let ticket = id.wireString
                try await Self.audit(
                    connection,
                    context: context,
                    action: "approval.escalated",
                    target: "ticket:\(ticket)",
                    after: ["thread_id": .string(threadID.wireString)],
                    reason: Reason.approvalEscalated.rawValue,
                    logger: self.logger
                )
                try await self.postSystemMessage(
                    threadID: threadID,
                    to: [],
                    body: "Approval ticket \(ticket) [\(actionClass)] \(resource) from \(requester) is still waiting for a decision; escalated.",
                    payload: ["event": .string("approval.escalated"), "ticket_id": .string(ticket), "state": .string("pending")],
                    on: connection,
                    context: context
                )
            }
            let expiredRows = try await connection.query(
                """
                UPDATE approval_tickets SET state = 'expired', decider = 'policy', reason_code = 'TICKET_EXPIRED', decided_at = expires_at
                 WHERE workspace_id = \(workspace) AND state = 'pending' AND expires_at <= \(now)
                RETURNING id, thread_id, action_class, resource, requester
                """,
                logger: self.logger
            )
            let expired = try await Self.sweptTickets(expiredRows)
            for swept in expired {
                let (id, threadID, actionClass, resource, requester) = (swept.id, swept.threadID, swept.actionClass, swept.resource, swept.requester)
                let ticket = id.wireString
                try await Self.audit(
                    connection,
                    context: context,
                    action: "approval.expired",
                    target: "ticket:\(ticket)",
                    before: ["state": .string("pending")],
                    after: ["state": .string("expired")],
                    reason: Reason.ticketExpired.rawValue,
                    logger: self.logger
                )
                try await self.postSystemMessage(
                    threadID: threadID,
                    to: [requester],
                    body: "Approval ticket \(ticket) [\(actionClass)] \(resource) expired without a decision; the action is not approved.",
                    payload: ["event": .string("approval.expired"), "ticket_id": .string(ticket), "state": .string("expired")],
                    on: connection,
                    context: context
                )
            }
            return (escalated.count, expired.count)
        }
    }

    /// The rows a sweep's `UPDATE … RETURNING id, thread_id, action_class, resource, requester` changed.
    private static func sweptTickets(_ rows: PostgresRowSequence) async throws -> [SweptTicketRow] {
        var tickets: [SweptTicketRow] = []
        for try await row in rows { tickets.append(try SweptTicketRow(row)) }
        return tickets
    }
}

/// A thread's loop-guard state, read under its row lock.
struct GuardedThreadRow: StoreRow {
    let status: String
    let lastSeq: Int64
    let checkedSeq: Int64
    let baselineSeq: Int64
    let noProgressTurns: Int

    init(_ cells: PostgresRandomAccessRow) throws {
        status = try cells.value("status")
        lastSeq = try cells.value("last_seq")
        checkedSeq = try cells.value("guard_checked_seq")
        baselineSeq = try cells.value("guard_baseline_seq")
        noProgressTurns = try cells.value("no_progress_turns")
    }
}

/// A ticket an approval sweep escalated or expired.
struct SweptTicketRow: StoreRow {
    let id: UUID
    let threadID: UUID
    let actionClass: String
    let resource: String
    let requester: String

    init(_ cells: PostgresRandomAccessRow) throws {
        id = try cells.value("id")
        threadID = try cells.value("thread_id")
        actionClass = try cells.value("action_class")
        resource = try cells.value("resource")
        requester = try cells.value("requester")
    }
}
