import BridgeCore
import Foundation
import PostgresNIO

/// A message to be posted; the store assigns its seq.
public struct NewMessage: Sendable {
    public var threadID: UUID
    public var kind: MessageKind
    public var to: [String]
    public var replyToSeq: Int64?
    public var body: String
    /// The payload; set only through the initializer, which encodes it once into ``encodedPayload``.
    public private(set) var payload: JSONValue
    /// The payload's JSON text, encoded once: measured against the size limit and sent to PostgreSQL as is.
    public private(set) var encodedPayload: String
    public var schemaVersion: String

    public init(threadID: UUID, kind: MessageKind, to: [String], replyToSeq: Int64?, body: String, payload: JSONValue, schemaVersion: String) {
        self.threadID = threadID
        self.kind = kind
        self.to = to
        self.replyToSeq = replyToSeq
        self.body = body
        self.payload = payload
        self.encodedPayload = String(decoding: payload.serialized(), as: UTF8.self)
        self.schemaVersion = schemaVersion
    }
}

/// One page of a thread's messages.
public struct MessagePage: Sendable {
    public var messages: [Message]
    public var lastSeq: Int64
    public var hasMore: Bool
}

extension PostgresStore {
    /// Posts a message: one autocommit statement and one confirming round trip, which in the default
    /// `after_commit` mode is the post's notification itself (ARCHITECTURE.md, Life of a post). Returns the message
    /// and whether it was a replay.
    ///
    /// `permissions` (the caller's role's, from the catalog) and `rateLimit` (the catalog's per-participant post
    /// limit, nil for none) set the statement's guards. When a guard refuses the write, the statement's facts go to
    /// `refused`, the policy engine, which throws the reason; the statement wrote nothing.
    public func postMessage(
        _ message: NewMessage,
        permissions: PolicyCatalog.RolePermissions,
        rateLimit: PolicyCatalog.RateLimit? = nil,
        context: CallContext,
        idempotency: IdempotencyScope?,
        refused: @escaping @Sendable (ThreadFacts, MessagePostFacts) throws(BridgeError) -> Void
    ) async throws(BridgeError) -> (Message, deduplicated: Bool) {
        let statement = PostMessageStatement(
            message,
            permissions: permissions,
            rateLimit: rateLimit,
            context: context,
            idempotency: idempotency
        )
        do throws(BridgeError) {
            let written = try await run { [client, logger, notifier] gate in
                let posted = try await client.withConnection { connection in
                    // From here the statement may commit: a caller that stops waiting is told the outcome is unknown.
                    guard gate.beginCommit() else { throw CancellationError() }
                    let row: PostMessageStatement.Row?
                    do {
                        row =
                            try await notifier.mode == .inStatement
                            ? statement.runNotifying(on: connection, logger: logger)
                            : statement.run(on: connection, logger: logger)
                    } catch {
                        throw Self.autocommitFailure(error)
                    }
                    let posted = try Self.outcome(of: row, statement, message: message, refused: refused)
                    try await notifier.confirmCommit(of: statement.threadID, on: connection)
                    return posted
                }
                await notifier.sendConfirmed(statement.threadID)
                return posted
            }
            return (written, false)
        } catch let error where error.code == .internal && isIdempotencyConflict(error.underlying) {
            guard let idempotency else { throw error }
            let (requestHash, ref, _) = try await storedIdempotentResult(idempotency, context: context)
            guard requestHash == idempotency.requestHash, let ref else { throw Self.keyReused(idempotency) }
            return (try await messageByID(ref, context: context), true)
        }
    }

    /// What an autocommit statement's failure tells the caller: a server error means the statement, and so its
    /// implicit transaction, failed, and it is passed on as it was; any other (the connection or the server went away
    /// while it ran) leaves unknown whether it committed: `UNAVAILABLE` / `COMMIT_OUTCOME_UNKNOWN`.
    static func autocommitFailure(_ error: any Error) -> any Error {
        if StoreErrorMapping.sqlState(of: error) != nil || error is BridgeError || error is CancellationError { return error }
        return BridgeError(
            .unavailable,
            .commitOutcomeUnknown,
            "The database went away before confirming the write; it may or may not be stored. Retry with the same idempotency_key.",
            underlying: error
        )
    }

    /// Runs the post statement inside the caller's transaction: the written message, or the refusal `refused`
    /// throws from the statement's facts (which rolls the transaction back). The thread is notified once the
    /// transaction has committed (``withTransaction(_:)``), or by the statement itself in the `in_statement` mode.
    func guardedPost(
        _ statement: PostMessageStatement,
        message: NewMessage,
        on connection: PostgresConnection,
        refused: (ThreadFacts, MessagePostFacts) throws(BridgeError) -> Void
    ) async throws -> Message {
        let answer: PostMessageStatement.Row?
        if notifier.mode == .inStatement || PostedThreads.current == nil {
            answer = try await statement.runNotifying(on: connection, logger: logger)
        } else {
            answer = try await statement.run(on: connection, logger: logger)
        }
        let written = try Self.outcome(of: answer, statement, message: message, refused: refused)
        PostedThreads.current?.insert(statement.threadID)
        return written
    }

    /// The post statement's answer as the written message, or the refusal: `refused` throws the reason from the
    /// statement's facts; no row means the thread does not exist.
    static func outcome(
        of answer: PostMessageStatement.Row?,
        _ statement: PostMessageStatement,
        message: NewMessage,
        refused: (ThreadFacts, MessagePostFacts) throws(BridgeError) -> Void
    ) throws -> Message {
        guard let row = answer else {
            throw BridgeError.threadNotFound(statement.threadID.wireString)
        }
        if let written = row.written {
            return statement.message(message, seq: written.seq, createdAt: written.createdAt)
        }
        try refused(row.thread, row.post)
        // The rules allow what the guards refused: the thread changed between the statement's snapshot and its
        // row lock. A conflict is retried, and the retry sees the change.
        throw BridgeError(.aborted, .transactionConflict, "The thread changed while posting; retry.")
    }

    /// One message by id, within the caller's workspace.
    func messageByID(_ id: UUID, context: CallContext) async throws(BridgeError) -> Message {
        let workspace = context.identity.workspace
        let found = try await withConnection { connection -> Message? in
            let rows = try await connection.query(
                "SELECT \(unescaped: MessageRow.columns) FROM messages m WHERE m.id = \(id) AND m.workspace_id = \(workspace)",
                logger: self.logger
            )
            for try await row in rows { return try MessageRow(row).message }
            return nil
        }
        guard let found else { throw StoreErrorMapping.internalError(BridgeError(.internal, .internalError, "idempotent message \(id) missing")) }
        return found
    }

    /// Messages with seq above `afterSeq`, oldest first. For a caller who is not a member, the thread's facts go to
    /// `refused` (the policy engine), which throws the reason unless the role bypasses membership.
    public func readMessages(
        threadID: UUID,
        afterSeq: Int64,
        limit: Int,
        bypassMembership: Bool = false,
        context: CallContext,
        refused: (ThreadFacts) throws(BridgeError) -> Void = { _ throws(BridgeError) in }
    ) async throws(BridgeError) -> MessagePage {
        let statement = MessagePageStatement(
            threadID: threadID,
            afterSeq: afterSeq,
            limit: limit,
            handle: context.identity.handle,
            workspace: context.identity.workspace,
            bypassMembership: bypassMembership
        )
        let result = try await withConnection { connection -> (Int64, Bool, String, [Message])? in
            let rows = try await connection.execute(statement, logger: self.logger)
            var header: (Int64, Bool, String)?
            var messages: [Message] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                header = (try cells.value("last_seq"), try cells.value("member"), try cells.value("status"))
                // The thread's one row when no message follows has NULL message columns.
                if try cells.value("id", as: UUID?.self) != nil {
                    messages.append(try MessageRow(cells).message)
                }
            }
            return header.map { ($0.0, $0.1, $0.2, messages) }
        }
        guard let (lastSeq, member, status, messages) = result else { throw .threadNotFound(threadID.wireString) }
        if !member {
            try refused(ThreadFacts(status: ThreadStatus(rawValue: status) ?? .active, callerIsMember: false))
            guard bypassMembership else {
                throw BridgeError(.permissionDenied, .notAMember, "You are not a member of this thread; join it first.")
            }
        }
        let hasMore = messages.count > limit
        return MessagePage(messages: Array(messages.prefix(limit)), lastSeq: lastSeq, hasMore: hasMore)
    }

    /// Unread messages for the caller across its threads: broadcasts and those directed to it, not its own.
    public func inbox(limit: Int, context: CallContext) async throws(BridgeError) -> (messages: [Message], hasMore: Bool) {
        let statement = InboxStatement(limit: limit, handle: context.identity.handle, workspace: context.identity.workspace)
        let messages = try await withConnection { connection -> [Message] in
            let rows = try await connection.execute(statement, logger: self.logger)
            var messages: [Message] = []
            for try await row in rows { messages.append(try MessageRow(row).message) }
            return messages
        }
        return (Array(messages.prefix(limit)), messages.count > limit)
    }

    /// Advances the caller's cursor (never backwards). Returns the cursor and the thread's last seq.
    /// A caller who is not a member gets the reason from `refused`, the policy engine.
    public func acknowledge(
        threadID: UUID,
        seq: Int64,
        context: CallContext,
        idempotency: IdempotencyScope?,
        refused: @escaping @Sendable (ThreadFacts) throws(BridgeError) -> Void = { _ throws(BridgeError) in }
    ) async throws(BridgeError) -> (cursorSeq: Int64, lastSeq: Int64, deduplicated: Bool) {
        let workspace = context.identity.workspace
        let handle = context.identity.handle
        let (result, deduplicated) = try await idempotentTransaction(idempotency, context: context) { connection -> AckRecord in
            let rows = try await connection.query(
                """
                SELECT t.last_seq, p.cursor_seq, t.status
                  FROM threads t LEFT JOIN thread_participants p ON p.thread_id = t.id AND p.handle = \(handle) AND p.left_at IS NULL
                 WHERE t.id = \(threadID) AND t.workspace_id = \(workspace)
                """,
                logger: self.logger
            )
            var found: AckFactsRow?
            for try await row in rows { found = try AckFactsRow(row) }
            guard let found else { throw BridgeError.threadNotFound(threadID.wireString) }
            let lastSeq = found.lastSeq
            guard let cursor = found.cursorSeq else {
                try refused(ThreadFacts(status: found.status, callerIsMember: false))
                // No rule lets a non-member move a cursor it does not have.
                throw BridgeError(.permissionDenied, .notAMember, "You are not a member of this thread; join it first.")
            }
            guard seq <= lastSeq else {
                throw BridgeError(
                    .invalidArgument,
                    .ackBeyondLastSeq,
                    "seq \(seq) is beyond the thread's last seq \(lastSeq).",
                    details: ["field": "seq"]
                )
            }
            // GREATEST keeps the cursor monotonic even when two acks race; cursor_at is its message's time, where
            // the inbox starts looking (InboxStatement).
            var newCursor = max(cursor, seq)
            for try await updated in try await connection.query(
                """
                UPDATE thread_participants
                   SET cursor_seq = GREATEST(cursor_seq, \(seq)),
                       cursor_at = (SELECT m.created_at FROM messages m WHERE m.thread_id = \(threadID) AND m.seq = GREATEST(cursor_seq, \(seq)))
                 WHERE thread_id = \(threadID) AND handle = \(handle) AND left_at IS NULL
                RETURNING cursor_seq
                """,
                logger: self.logger
            ).decode(Int64.self) {
                newCursor = updated
            }
            try await Self.audit(
                connection,
                context: context,
                action: "message.ack",
                target: "thread:\(threadID.wireString)",
                before: ["cursor_seq": .integer(cursor)],
                after: ["cursor_seq": .integer(newCursor)],
                logger: self.logger
            )
            return AckRecord(cursorSeq: newCursor, lastSeq: lastSeq)
        }
        return (result.cursorSeq, result.lastSeq, deduplicated)
    }

    /// What an ack reads before moving the cursor: the thread's last seq and status, and the caller's cursor
    /// (nil for a caller who is not a member).
    struct AckFactsRow: StoreRow {
        var lastSeq: Int64
        var cursorSeq: Int64?
        var status: ThreadStatus

        init(_ cells: PostgresRandomAccessRow) throws {
            lastSeq = try cells.value("last_seq")
            cursorSeq = try cells.value("cursor_seq")
            status = ThreadStatus(rawValue: try cells.value("status")) ?? .active
        }
    }

    struct AckRecord: Codable, Sendable {
        var cursorSeq: Int64
        var lastSeq: Int64
    }
}
