import BridgeCore
import Foundation
import PostgresNIO

/// An approval ticket as a reader sees it: ``columns`` (on `approval_tickets a`) in the statement, then one
/// ``TicketRow`` per row.
struct TicketRow: StoreRow {
    /// A pending ticket past `expires_at` reads as expired (fail closed) whether or not a sweep has written that yet.
    static let columns = """
        a.id, a.thread_id, a.requester, a.action_class, a.resource, a.summary, a.risk,
        CASE WHEN a.state = 'pending' AND a.expires_at <= now() THEN 'expired' ELSE a.state END AS state,
        CASE WHEN a.state = 'pending' AND a.expires_at <= now() THEN 'policy' ELSE a.decider END AS decider,
        CASE WHEN a.state = 'pending' AND a.expires_at <= now() THEN 'TICKET_EXPIRED' ELSE a.reason_code END AS reason_code,
        a.decision_note, a.created_at,
        CASE WHEN a.state = 'pending' AND a.expires_at <= now() THEN a.expires_at ELSE a.decided_at END AS decided_at,
        a.expires_at, a.escalated_at
        """

    let ticket: ApprovalTicket

    init(_ cells: PostgresRandomAccessRow) throws {
        ticket = ApprovalTicket(
            id: try cells.value("id"),
            threadID: try cells.value("thread_id"),
            requester: try cells.value("requester"),
            actionClass: try cells.value("action_class"),
            resource: try cells.value("resource"),
            summary: try cells.value("summary"),
            risk: ApprovalTicket.Risk(rawValue: try cells.value("risk")) ?? .medium,
            state: ApprovalTicket.State(rawValue: try cells.value("state")) ?? .pending,
            decider: try cells.value("decider"),
            reasonCode: try cells.value("reason_code"),
            decisionNote: try cells.value("decision_note"),
            createdAt: try cells.value("created_at"),
            decidedAt: try cells.value("decided_at"),
            expiresAt: try cells.value("expires_at"),
            escalatedAt: try cells.value("escalated_at")
        )
    }
}
