import BridgeCore
import Foundation
import PostgresNIO

/// Everything an operator needs to understand one thread, read in one snapshot.
public struct ThreadInspection: Sendable, Codable {
    public var thread: ThreadSummary
    /// Current and former members with their cursors; `left_at` is set for those who left.
    public var participants: [InspectedMember]
    /// The newest messages, oldest first.
    public var recentMessages: [Message]
    /// The thread's approval tickets, newest first, states as readers see them (expired when past TTL).
    public var tickets: [ApprovalTicket]
    /// The newest audit events about the thread or its tickets, oldest first.
    public var audit: [AuditEvent]
    /// The supervisor's newest wake requests for the thread, each with its attempts and their output tails.
    public var wakes: [WakeRequest] = []
    /// The live session leases of the thread's current members: whose MCP session is open now.
    public var sessions: [SessionLease] = []

    enum CodingKeys: String, CodingKey {
        case thread, participants, tickets, audit, wakes, sessions
        case recentMessages = "recent_messages"
    }
}

/// A thread member as the operator sees it: cursor, unread count, presence and whether they left.
public struct InspectedMember: Sendable, Codable {
    public var handle: String
    public var role: Role
    public var cursorSeq: Int64
    public var unread: Int64
    public var joinedAt: Date
    public var leftAt: Date?
    public var presence: Presence?
    public var lastSeenAt: Date?

    enum CodingKeys: String, CodingKey {
        case handle, role, unread, presence
        case cursorSeq = "cursor_seq"
        case joinedAt = "joined_at"
        case leftAt = "left_at"
        case lastSeenAt = "last_seen_at"
    }
}

/// One row of the audit trail.
public struct AuditEvent: Sendable, Codable {
    public var id: Int64
    public var at: Date
    /// `participant:HANDLE`, `operator:NAME` or `system`.
    public var actor: String
    public var action: String
    public var target: String
    public var reason: String?
    public var requestID: String?
    public var before: JSONValue?
    public var after: JSONValue?

    enum CodingKeys: String, CodingKey {
        case id, at, actor, action, target, reason, before, after
        case requestID = "request_id"
    }
}

extension PostgresStore {
    /// Reads a thread's full picture for `inspect-thread`, in one repeatable-read snapshot.
    public func inspectThread(_ id: UUID, messageLimit: Int, auditLimit: Int, context: CallContext) async throws(BridgeError) -> ThreadInspection {
        let workspace = context.identity.workspace
        let inspection = try await withConnection { connection -> ThreadInspection? in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: self.logger)
            do {
                let inspection = try await self.readInspection(
                    id,
                    messageLimit: messageLimit,
                    auditLimit: auditLimit,
                    workspace: workspace,
                    on: connection
                )
                try await connection.query("COMMIT", logger: self.logger)
                return inspection
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: self.logger)
                throw error
            }
        }
        guard var inspection else { throw .threadNotFound(id.wireString) }
        inspection.wakes = try await wakeRequests(target: nil, threadID: id, limit: 20, workspace: workspace)
        let members = Set(inspection.participants.filter { $0.leftAt == nil }.map(\.handle))
        inspection.sessions = try await sessionLeases(workspace: workspace).filter { members.contains($0.handle) }
        return inspection
    }

    private func readInspection(
        _ id: UUID,
        messageLimit: Int,
        auditLimit: Int,
        workspace: String,
        on connection: PostgresConnection
    ) async throws -> ThreadInspection? {
        // Members are read below with their history and presence; threadDetail's current-member list would be a second query.
        guard let thread = try await threadSummary(id, on: connection, workspace: workspace) else { return nil }
        let lastSeq = thread.lastSeq

        var members: [InspectedMember] = []
        let memberRows = try await connection.query(
            """
            SELECT tp.handle, tp.role, tp.cursor_seq, tp.joined_at, tp.left_at, p.presence, p.last_seen_at
              FROM thread_participants tp
              LEFT JOIN participants p ON p.workspace_id = tp.workspace_id AND p.handle = tp.handle
             WHERE tp.thread_id = \(id)
             ORDER BY tp.left_at IS NOT NULL, tp.joined_at, tp.handle
            """,
            logger: logger
        )
        for try await row in memberRows {
            members.append(try InspectedMemberRow(row).member(lastSeq: lastSeq))
        }

        var messages: [Message] = []
        let messageRows = try await connection.query(
            """
            SELECT \(unescaped: MessageRow.columns) FROM messages m
             WHERE m.thread_id = \(id) AND m.seq > \(lastSeq - Int64(messageLimit)) ORDER BY m.seq
            """,
            logger: logger
        )
        for try await row in messageRows { messages.append(try MessageRow(row).message) }

        var tickets: [ApprovalTicket] = []
        let ticketRows = try await connection.query(
            """
            SELECT \(unescaped: TicketRow.columns) FROM approval_tickets a
             WHERE a.thread_id = \(id) AND a.workspace_id = \(workspace) ORDER BY a.created_at DESC, a.id
            """,
            logger: logger
        )
        for try await row in ticketRows { tickets.append(try TicketRow(row).ticket) }

        let threadTarget = "thread:\(id.wireString)"
        let ticketTargets = tickets.map { "ticket:\($0.id.wireString)" }
        var audit: [AuditEvent] = []
        let auditRows = try await connection.query(
            """
            SELECT id, created_at, actor, action, target, reason, request_id, before::text AS before, after::text AS after FROM (
                SELECT * FROM audit_events
                 WHERE workspace_id = \(workspace) AND (target = \(threadTarget) OR target = ANY(\(ticketTargets)))
                 ORDER BY id DESC LIMIT \(auditLimit)) recent
             ORDER BY id
            """,
            logger: logger
        )
        for try await row in auditRows { audit.append(try AuditEventRow(row).event) }
        return ThreadInspection(thread: thread, participants: members, recentMessages: messages, tickets: tickets, audit: audit)
    }
}

/// A member of the inspected thread with its history and presence, by column name.
struct InspectedMemberRow: StoreRow {
    let handle: String
    let role: String
    let cursorSeq: Int64
    let joinedAt: Date
    let leftAt: Date?
    let presence: String?
    let lastSeenAt: Date?

    init(_ cells: PostgresRandomAccessRow) throws {
        handle = try cells.value("handle")
        role = try cells.value("role")
        cursorSeq = try cells.value("cursor_seq")
        joinedAt = try cells.value("joined_at")
        leftAt = try cells.value("left_at")
        presence = try cells.value("presence")
        lastSeenAt = try cells.value("last_seen_at")
    }

    func member(lastSeq: Int64) -> InspectedMember {
        InspectedMember(
            handle: handle,
            role: Role(rawValue: role) ?? .observer,
            cursorSeq: cursorSeq,
            unread: max(0, lastSeq - cursorSeq),
            joinedAt: joinedAt,
            leftAt: leftAt,
            presence: presence.flatMap(Presence.init(rawValue:)),
            lastSeenAt: lastSeenAt
        )
    }
}

/// An audit event as inspection reads it, its JSON columns as text, by column name.
struct AuditEventRow: StoreRow {
    let event: AuditEvent

    init(_ cells: PostgresRandomAccessRow) throws {
        let before: String? = try cells.value("before")
        let after: String? = try cells.value("after")
        event = AuditEvent(
            id: try cells.value("id"),
            at: try cells.value("created_at"),
            actor: try cells.value("actor"),
            action: try cells.value("action"),
            target: try cells.value("target"),
            reason: try cells.value("reason"),
            requestID: try cells.value("request_id"),
            before: try before.map { try JSONParser.parse($0.utf8) },
            after: try after.map { try JSONParser.parse($0.utf8) }
        )
    }
}
