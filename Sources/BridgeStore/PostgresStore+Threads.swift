import BridgeCore
import Foundation
import PostgresNIO

/// A thread to create, with its first members and an optional first message.
public struct NewThread: Sendable {
    public var title: String
    public var autonomous: Bool
    /// Members besides the creator, with their per-thread roles.
    public var participants: [(handle: String, role: Role)]
    public var firstMessage: NewMessage?

    public init(title: String, autonomous: Bool, participants: [(handle: String, role: Role)], firstMessage: NewMessage?) {
        self.title = title
        self.autonomous = autonomous
        self.participants = participants
        self.firstMessage = firstMessage
    }
}

/// Filters and paging for listing threads.
public struct ThreadQuery: Sendable {
    public var status: ThreadStatus?
    /// Only threads the caller is a member of.
    public var memberOnly: Bool
    public var limit: Int
    /// The opaque cursor from the previous page.
    public var pageToken: String?

    public init(status: ThreadStatus?, memberOnly: Bool, limit: Int, pageToken: String?) {
        self.status = status
        self.memberOnly = memberOnly
        self.limit = limit
        self.pageToken = pageToken
    }
}

/// The result of creating a thread, stored whole for idempotent replays.
public struct CreatedThread: Codable, Sendable {
    public var thread: ThreadDetail
    public var message: Message?
}

extension PostgresStore {
    /// Creates a thread with the creator and the named participants as members; unknown handles are registered.
    public func createThread(
        _ new: NewThread,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> (CreatedThread, deduplicated: Bool) {
        let identity = context.identity
        let threadID = UUID()
        let members = [(handle: identity.handle, role: identity.role)] + new.participants.filter { $0.handle != identity.handle }
        let handles = members.map(\.handle)
        let roles = members.map(\.role.rawValue)
        return try await idempotentTransaction(idempotency, context: context) { connection in
            try await connection.query(
                """
                INSERT INTO threads (id, workspace_id, title, autonomous, created_by)
                VALUES (\(threadID), \(identity.workspace), \(new.title), \(new.autonomous), \(identity.handle))
                """,
                logger: self.logger
            )
            try await connection.query(
                """
                INSERT INTO participants (workspace_id, handle, role)
                SELECT \(identity.workspace), h, r FROM unnest(\(handles)::text[], \(roles)::text[]) AS u (h, r)
                ON CONFLICT DO NOTHING
                """,
                logger: self.logger
            )
            try await connection.query(
                """
                INSERT INTO thread_participants (thread_id, workspace_id, handle, role)
                SELECT \(threadID), \(identity.workspace), h, r FROM unnest(\(handles)::text[], \(roles)::text[]) AS u (h, r)
                """,
                logger: self.logger
            )
            try await Self.audit(
                connection,
                context: context,
                action: "thread.create",
                target: "thread:\(threadID.wireString)",
                after: ["title": .string(new.title), "participants": .array(handles.map(JSONValue.string))],
                logger: self.logger
            )
            var message: Message?
            if var first = new.firstMessage {
                first.threadID = threadID
                message = try await self.insertMessage(first, on: connection, context: context)
            }
            let detail = try await self.threadDetail(threadID, on: connection, workspace: identity.workspace)
            return CreatedThread(thread: detail!, message: message)
        }
    }

    /// Posts a thread's first message inside the transaction that created the thread, through the post statement.
    /// The creator is a member of the active thread it just made, so only a recipient who is not a member can be refused.
    func insertMessage(_ message: NewMessage, on connection: PostgresConnection, context: CallContext) async throws -> Message {
        let statement = PostMessageStatement(
            message,
            permissions: PolicyCatalog.RolePermissions(tools: [], transitions: []),
            rateLimit: nil,
            context: context,
            idempotency: nil
        )
        return try await guardedPost(statement, message: message, on: connection) { _, facts throws(BridgeError) in
            if !facts.recipientsNotMembers.isEmpty {
                throw BridgeError(
                    .invalidArgument,
                    .unknownRecipient,
                    "The first message names recipients who are not members of the thread.",
                    details: ["field": "message.to", "handles": facts.recipientsNotMembers.joined(separator: ",")]
                )
            }
        }
    }

    /// One thread with its members, or `THREAD_NOT_FOUND`.
    public func thread(_ id: UUID, context: CallContext) async throws(BridgeError) -> ThreadDetail {
        let workspace = context.identity.workspace
        let detail = try await withConnection { connection in
            try await self.threadDetail(id, on: connection, workspace: workspace)
        }
        guard let detail else { throw .threadNotFound(id.wireString) }
        return detail
    }

    /// The thread's status and the caller's membership, with the thread row locked for the transaction.
    func lockedThreadFacts(_ id: UUID, on connection: PostgresConnection, identity: Identity) async throws -> ThreadFacts {
        let rows = try await connection.query(
            """
            SELECT t.status, EXISTS (SELECT 1 FROM thread_participants p
                                      WHERE p.thread_id = t.id AND p.handle = \(identity.handle) AND p.left_at IS NULL) AS is_member
              FROM threads t WHERE t.id = \(id) AND t.workspace_id = \(identity.workspace) FOR UPDATE OF t
            """,
            logger: logger
        )
        for try await row in rows {
            let cells = row.makeRandomAccess()
            return ThreadFacts(status: ThreadStatus(rawValue: try cells.value("status")) ?? .active, callerIsMember: try cells.value("is_member"))
        }
        throw BridgeError.threadNotFound(id.wireString)
    }

    func threadDetail(_ id: UUID, on connection: PostgresConnection, workspace: String) async throws -> ThreadDetail? {
        guard let summary = try await threadSummary(id, on: connection, workspace: workspace) else { return nil }
        let memberRows = try await connection.query(
            """
            SELECT handle, role, cursor_seq, joined_at FROM thread_participants
             WHERE thread_id = \(id) AND left_at IS NULL ORDER BY joined_at, handle
            """,
            logger: logger
        )
        var members: [ThreadMember] = []
        for try await row in memberRows {
            let cells = row.makeRandomAccess()
            let cursor: Int64 = try cells.value("cursor_seq")
            members.append(
                ThreadMember(
                    handle: try cells.value("handle"),
                    role: Role(rawValue: try cells.value("role")) ?? .observer,
                    cursorSeq: cursor,
                    unread: max(0, summary.lastSeq - cursor),
                    joinedAt: try cells.value("joined_at")
                )
            )
        }
        return ThreadDetail(thread: summary, participants: members)
    }

    /// The thread row alone, within the workspace.
    func threadSummary(_ id: UUID, on connection: PostgresConnection, workspace: String) async throws -> ThreadSummary? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: ThreadRow.columns) FROM threads t WHERE t.id = \(id) AND t.workspace_id = \(workspace)
            """,
            logger: logger
        )
        var summary: ThreadSummary?
        for try await row in rows { summary = try ThreadRow(row).summary }
        return summary
    }

    /// A page of threads, newest first, and the token of the next page.
    public func listThreads(
        _ query: ThreadQuery,
        context: CallContext
    ) async throws(BridgeError) -> (threads: [ThreadSummary], nextPageToken: String?) {
        let workspace = context.identity.workspace
        let handle = context.identity.handle
        let after = try Self.decodePageToken(query.pageToken)
        let status = query.status?.rawValue
        let limit = query.limit
        let threads = try await withConnection { connection -> [ThreadSummary] in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: ThreadRow.columns) FROM threads t
                 WHERE t.workspace_id = \(workspace)
                   AND (\(status)::text IS NULL OR t.status = \(status))
                   AND (NOT \(query.memberOnly) OR EXISTS (SELECT 1 FROM thread_participants p
                                                     WHERE p.thread_id = t.id AND p.handle = \(handle) AND p.left_at IS NULL))
                   AND (\(after?.0)::timestamptz IS NULL OR (t.created_at, t.id) < (\(after?.0), \(after?.1)))
                 ORDER BY t.created_at DESC, t.id DESC
                 LIMIT \(limit + 1)
                """,
                logger: self.logger
            )
            var threads: [ThreadSummary] = []
            for try await row in rows { threads.append(try ThreadRow(row).summary) }
            return threads
        }
        let page = Array(threads.prefix(limit))
        let next = threads.count > limit ? page.last.map(Self.encodePageToken) : nil
        return (page, next)
    }

    static func encodePageToken(_ thread: ThreadSummary) -> String {
        let micros = Int64((thread.createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros)/\(thread.id.wireString)".utf8).base64EncodedString()
    }

    static func decodePageToken(_ token: String?) throws(BridgeError) -> (Date, UUID)? {
        guard let token else { return nil }
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else {
            throw BridgeError.invalidArgument(.invalidFieldValue, "page_token is not one this server issued.", field: "page_token")
        }
        let parts = text.split(separator: "/")
        // Only times a thread could have been created in (years 1 to 9999): a crafted far-off instant would
        // overflow PostgresNIO's timestamp encoding, which traps and takes the whole process down.
        guard parts.count == 2, let micros = Int64(parts[0]), (-62_135_596_800_000_000...253_402_300_799_999_999).contains(micros),
            let id = UUID(uuidString: String(parts[1]))
        else {
            throw BridgeError.invalidArgument(.invalidFieldValue, "page_token is not one this server issued.", field: "page_token")
        }
        return (Date(timeIntervalSince1970: Double(micros) / 1_000_000), id)
    }

    /// Joins a thread (or rejoins after leaving). Returns the thread and whether membership changed.
    /// A caller who is not yet a member is let in only if `authorize` (policy) allows it on the thread's facts.
    public func joinThread(
        _ id: UUID,
        role: Role,
        context: CallContext,
        idempotency: IdempotencyScope?,
        authorize: @escaping @Sendable (ThreadFacts) throws(BridgeError) -> Void = { _ throws(BridgeError) in }
    ) async throws(BridgeError) -> (MembershipChange, deduplicated: Bool) {
        let identity = context.identity
        return try await idempotentTransaction(idempotency, context: context) { connection in
            guard let current = try await self.threadDetail(id, on: connection, workspace: identity.workspace) else {
                throw BridgeError.threadNotFound(id.wireString)
            }
            if current.participants.contains(where: { $0.handle == identity.handle }) {
                return MembershipChange(thread: current, changed: false)
            }
            try authorize(ThreadFacts(status: current.thread.status, callerIsMember: false))
            // Joining changes the thread: never a closed one, whatever the caller's rules say.
            if current.thread.status == .closed {
                throw BridgeError(
                    .failedPrecondition,
                    .threadClosed,
                    "The thread is closed; it cannot be joined.",
                    details: ["thread_id": id.wireString]
                )
            }
            try await connection.query(
                """
                INSERT INTO thread_participants (thread_id, workspace_id, handle, role)
                VALUES (\(id), \(identity.workspace), \(identity.handle), \(role.rawValue))
                ON CONFLICT (thread_id, handle) DO UPDATE SET left_at = NULL, role = EXCLUDED.role, joined_at = now()
                """,
                logger: self.logger
            )
            try await Self.audit(
                connection,
                context: context,
                action: "thread.join",
                target: "thread:\(id.wireString)",
                after: ["handle": .string(identity.handle), "role": .string(role.rawValue)],
                logger: self.logger
            )
            let detail = try await self.threadDetail(id, on: connection, workspace: identity.workspace)
            return MembershipChange(thread: detail!, changed: true)
        }
    }

    /// Leaves a thread. Leaving a thread one is not in changes nothing.
    public func leaveThread(
        _ id: UUID,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> (MembershipChange, deduplicated: Bool) {
        let identity = context.identity
        return try await idempotentTransaction(idempotency, context: context) { connection in
            let rows = try await connection.query(
                """
                UPDATE thread_participants p SET left_at = now()
                  FROM threads t
                 WHERE p.thread_id = \(id) AND t.id = p.thread_id AND t.workspace_id = \(identity.workspace)
                   AND p.handle = \(identity.handle) AND p.left_at IS NULL
                RETURNING 1
                """,
                logger: self.logger
            )
            var changed = false
            for try await _ in rows { changed = true }
            if changed {
                try await Self.audit(
                    connection,
                    context: context,
                    action: "thread.leave",
                    target: "thread:\(id.wireString)",
                    after: ["handle": .string(identity.handle)],
                    logger: self.logger
                )
            }
            guard let detail = try await self.threadDetail(id, on: connection, workspace: identity.workspace) else {
                throw BridgeError.threadNotFound(id.wireString)
            }
            return MembershipChange(thread: detail, changed: changed)
        }
    }

    /// Applies a status transition under the thread's row lock. `authorize` (policy) sees the locked thread's
    /// state and the caller's membership before anything changes.
    public func setThreadStatus(
        _ id: UUID,
        transition: ThreadStatus.Transition,
        reason: String?,
        context: CallContext,
        idempotency: IdempotencyScope?,
        authorize: @escaping @Sendable (ThreadFacts) throws(BridgeError) -> Void
    ) async throws(BridgeError) -> (StatusChange, deduplicated: Bool) {
        let identity = context.identity
        return try await idempotentTransaction(idempotency, context: context) { connection in
            let facts = try await self.lockedThreadFacts(id, on: connection, identity: identity)
            try authorize(facts)
            let status = facts.status
            let next = try status.applying(transition)
            let outcome: String? = transition == .close ? reason : nil
            try await connection.query(
                """
                UPDATE threads SET status = \(next.rawValue), status_reason = \(reason), outcome = coalesce(\(outcome), outcome),
                       updated_at = now()
                 WHERE id = \(id)
                """,
                logger: self.logger
            )
            try await Self.audit(
                connection,
                context: context,
                action: "thread.\(transition.rawValue)",
                target: "thread:\(id.wireString)",
                before: ["status": .string(status.rawValue)],
                after: ["status": .string(next.rawValue)],
                reason: reason,
                logger: self.logger
            )
            // Members learn of the change where they already look: the thread itself.
            let verb =
                switch transition {
                case .escalate: "escalated (now blocked)"
                case .unblock: "unblocked (now active)"
                case .close: "closed"
                }
            try await self.postSystemMessage(
                threadID: id,
                to: [],
                body: "Thread \(verb) by \(identity.auditActor)\(reason.map { ": \($0)" } ?? ".")",
                payload: [
                    "event": .string("thread.\(transition.rawValue)"), "status": .string(next.rawValue),
                    "previous_status": .string(status.rawValue), "actor": .string(identity.auditActor),
                ],
                on: connection,
                context: context
            )
            let detail = try await self.threadDetail(id, on: connection, workspace: identity.workspace)
            return StatusChange(thread: detail!, previousStatus: status)
        }
    }
}

/// The outcome of a join or leave.
public struct MembershipChange: Codable, Sendable {
    public var thread: ThreadDetail
    /// False when the caller already was (or was not) a member.
    public var changed: Bool
}

/// The outcome of a status transition.
public struct StatusChange: Codable, Sendable {
    public var thread: ThreadDetail
    public var previousStatus: ThreadStatus

    enum CodingKeys: String, CodingKey {
        case thread
        case previousStatus = "previous_status"
    }
}
