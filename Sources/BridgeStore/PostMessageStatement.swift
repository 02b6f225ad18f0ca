import BridgeCore
import Foundation
import Logging
import PostgresNIO

/// The one statement every message goes through (an agent's post, a thread's first message, a system message):
/// seq assignment, insert, audit and idempotency record, one prepared statement and one round trip. The thread
/// row's lock is held only for this statement.
///
/// The statement does not NOTIFY: a `pg_notify` in the post's transaction takes PostgreSQL's global notify lock at
/// commit and holds it while the commit record is flushed, so every notifying commit waits for the one before
/// it. The store notifies after COMMIT instead (``PostNotifier``); ``NotifyingPostMessageStatement`` is the
/// statement with its notify, for the `in_statement` mode and the bench's baseline (c).
///
/// The write is guarded on the facts of ``CatalogPolicy/threadRules``, in the order listed there: the author is a
/// member (or its role bypasses membership), the thread is not closed, not blocked (unless the role may post
/// while blocked), every recipient is a member, `reply_to_seq` is at most the last seq, and the author's post
/// allowance (the catalog's rate limit, a token bucket on the participant row) is not spent. A system message
/// passes every guard. The statement returns those facts on every row, written or not, so that when a guard
/// trips the policy engine, not a second diagnosis, says why; no row at all means the thread does not exist.
///
/// An agent's post runs alone, in autocommit (``PostgresStore/postMessage(_:permissions:rateLimit:context:idempotency:refused:)``),
/// so a refused post must write nothing by itself: the allowance is spent only when every other guard passes
/// in the statement's snapshot. Only a concurrent change to the thread between that snapshot and the seq bump's row
/// lock (answered `TRANSACTION_CONFLICT` and retried) can spend a unit without a message.
struct PostMessageStatement: PostgresPreparedStatement {
    /// The statement's parameters, by name; `$n` is the case's raw value and bindings follow this order.
    enum Parameter: Int, CaseIterable {
        case threadID = 1
        case workspace, author, isSystem, mayPostWhileBlocked, bypassMembership, replyToSeq, to, messageID,
            kind, body, payloadJSON, schemaVersion, bodyHash, requestID, idempotencyKey, requestHash,
            allowanceCapacity, allowancePerSecond

        /// The placeholder for this parameter in the SQL text.
        var placeholder: String { "$\(rawValue)" }
    }

    static let name = "agent_bridge_post_message_v5"

    private static func p(_ parameter: Parameter) -> String { parameter.placeholder }

    /// The allowance left now: the stored one refilled for the time since, capped at the bucket size.
    static let allowanceNow = """
        LEAST(\(p(.allowanceCapacity)), COALESCE(post_allowance, \(p(.allowanceCapacity)))
              + \(p(.allowancePerSecond)) * EXTRACT(EPOCH FROM now() - COALESCE(post_allowance_at, now())))
        """
    static let isMember = """
        EXISTS (SELECT 1 FROM thread_participants p WHERE p.thread_id = \(p(.threadID)) AND p.handle = \(p(.author)) AND p.left_at IS NULL)
        """
    /// Every guard but the allowance, on the thread row (`status`, `last_seq`): read in `facts` to decide whether the
    /// allowance is spent, and again in the seq bump, on the row it locked.
    static let guardsBesidesAllowance = """
        (\(p(.bypassMembership)) OR \(isMember))
                    AND (status = 'active' OR (status = 'blocked' AND \(p(.mayPostWhileBlocked))))
                    AND cardinality(\(p(.to))) = (SELECT count(*) FROM thread_participants p
                                            WHERE p.thread_id = \(p(.threadID)) AND p.handle = ANY (\(p(.to))) AND p.left_at IS NULL)
                    AND (\(p(.replyToSeq))::bigint IS NULL OR \(p(.replyToSeq)) <= last_seq)
        """
    static let sql = text(notifying: false)

    /// The statement's SQL; `notifying: true` adds a `pg_notify` of the thread id on the post channel.
    static func text(notifying: Bool) -> String {
        """
        WITH facts AS (
            SELECT t.status, t.last_seq, \(isMember) AS author_is_member,
                   ARRAY (SELECT unnest(\(p(.to))::text[])
                          EXCEPT SELECT p.handle FROM thread_participants p WHERE p.thread_id = t.id AND p.left_at IS NULL
                          ORDER BY 1) AS recipients_not_members,
                   (SELECT (\(allowanceNow))::float8 FROM participants
                     WHERE \(p(.allowanceCapacity)) IS NOT NULL AND workspace_id = \(p(.workspace)) AND handle = \(p(.author))) AS allowance,
                   (\(guardsBesidesAllowance)) AS others_allow
              FROM threads t WHERE t.id = \(p(.threadID)) AND t.workspace_id = \(p(.workspace))
        ), r AS (
            UPDATE participants SET post_allowance = \(allowanceNow) - 1, post_allowance_at = now()
             WHERE \(p(.allowanceCapacity)) IS NOT NULL AND workspace_id = \(p(.workspace)) AND handle = \(p(.author))
               AND \(allowanceNow) >= 1 AND (SELECT others_allow FROM facts)
            RETURNING 1
        ), t AS (
            UPDATE threads SET last_seq = last_seq + 1, updated_at = now()
             WHERE id = \(p(.threadID)) AND workspace_id = \(p(.workspace))
               AND (\(p(.isSystem)) OR (
                        \(guardsBesidesAllowance)
                    AND (\(p(.allowanceCapacity)) IS NULL OR EXISTS (SELECT 1 FROM r)
                         OR NOT EXISTS (SELECT 1 FROM participants WHERE workspace_id = \(p(.workspace)) AND handle = \(p(.author))))))
            RETURNING last_seq
        ), m AS (
            INSERT INTO messages (thread_id, seq, id, workspace_id, author, kind, to_handles, reply_to_seq,
                                  body, payload, schema_version, body_hash, request_id)
            SELECT \(p(.threadID)), t.last_seq, \(p(.messageID)), \(p(.workspace)), \(p(.author)), \(p(.kind)), \(p(.to)),
                   \(p(.replyToSeq)), \(p(.body)), \(p(.payloadJSON))::jsonb, \(p(.schemaVersion)), \(p(.bodyHash)), \(p(.requestID))
              FROM t
            RETURNING seq, created_at
        ), a AS (
            -- A system message is audited by the action that wrote it.
            INSERT INTO audit_events (workspace_id, actor, action, target, after, request_id)
            SELECT \(p(.workspace)), 'participant:' || \(p(.author)), 'message.post', 'thread:' || \(p(.threadID))::text,
                   jsonb_build_object('seq', m.seq, 'message_id', \(p(.messageID)), 'kind', \(p(.kind)), 'to', \(p(.to))), \(p(.requestID))
              FROM m WHERE NOT \(p(.isSystem))
        ), i AS (
            INSERT INTO idempotency_keys (workspace_id, caller, tool, key, request_hash, result_ref)
            SELECT \(p(.workspace)), \(p(.author)), 'v1_message_post', \(p(.idempotencyKey)), \(p(.requestHash)), \(p(.messageID))
              FROM m WHERE \(p(.idempotencyKey)) IS NOT NULL
        ), n AS (
            SELECT m.seq, m.created_at\(notifying ? ", pg_notify('\(PostgresStore.messageChannel)', \(p(.threadID))::text)" : "") FROM m
        )
        SELECT facts.status, facts.last_seq, facts.author_is_member, facts.recipients_not_members, facts.allowance,
               n.seq, n.created_at
          FROM facts LEFT JOIN n ON true
        """
    }
    static let bindingDataTypes: [PostgresDataType] = Parameter.allCases.map { parameter in
        switch parameter {
        case .threadID, .messageID: .uuid
        case .isSystem, .mayPostWhileBlocked, .bypassMembership: .bool
        case .replyToSeq: .int8
        case .to: .textArray
        case .allowanceCapacity, .allowancePerSecond: .float8
        case .workspace, .author, .kind, .body, .payloadJSON, .schemaVersion, .bodyHash, .requestID, .idempotencyKey, .requestHash: .text
        }
    }

    /// What the statement answers: the facts its guards read and, when it wrote, the message's seq and time.
    struct Row: Sendable {
        var thread: ThreadFacts
        var post: MessagePostFacts
        /// The written message's seq and creation time; nil when a guard refused the write.
        var written: (seq: Int64, createdAt: Date)?
    }

    var threadID: UUID
    var workspace: String
    var author: String
    /// A `system` message: no guard applies, no rate limit, no audit row of its own.
    var isSystem: Bool
    var mayPostWhileBlocked: Bool
    var bypassMembership: Bool
    var replyToSeq: Int64?
    var to: [String]
    var messageID: UUID
    var kind: String
    var body: String
    var payloadJSON: String
    var schemaVersion: String
    var bodyHash: String
    var requestID: String
    var idempotencyKey: String?
    var requestHash: String?
    /// The bucket size (the catalog's count) and refill per second (count / window); nil: no limit.
    var rateLimit: (capacity: Double, perSecond: Double)?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Parameter.allCases.count)
        func append<Value: PostgresNonThrowingEncodable>(_ value: Value?) {
            if let value { bindings.append(value) } else { bindings.appendNull() }
        }
        for parameter in Parameter.allCases {
            switch parameter {
            case .threadID: append(threadID)
            case .workspace: append(workspace)
            case .author: append(author)
            case .isSystem: append(isSystem)
            case .mayPostWhileBlocked: append(mayPostWhileBlocked)
            case .bypassMembership: append(bypassMembership)
            case .replyToSeq: append(replyToSeq)
            case .to: append(to)
            case .messageID: append(messageID)
            case .kind: append(kind)
            case .body: append(body)
            case .payloadJSON: append(payloadJSON)
            case .schemaVersion: append(schemaVersion)
            case .bodyHash: append(bodyHash)
            case .requestID: append(requestID)
            case .idempotencyKey: append(idempotencyKey)
            case .requestHash: append(requestHash)
            case .allowanceCapacity: append(rateLimit?.capacity)
            case .allowancePerSecond: append(rateLimit?.perSecond)
            }
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let cells = row.makeRandomAccess()
        func value<T: PostgresDecodable>(_ column: String, _: T.Type = T.self) throws -> T {
            try cells[column].decode(T.self, context: .default)
        }
        let status: String = try value("status")
        let lastSeq: Int64 = try value("last_seq")
        let seq: Int64? = try value("seq")
        let createdAt: Date? = try value("created_at")
        return Row(
            thread: ThreadFacts(status: ThreadStatus(rawValue: status) ?? .active, callerIsMember: try value("author_is_member")),
            post: MessagePostFacts(
                lastSeq: lastSeq,
                replyToSeq: replyToSeq,
                recipientsNotMembers: try value("recipients_not_members"),
                allowance: try value("allowance"),
                allowancePerSecond: rateLimit?.perSecond
            ),
            written: seq.flatMap { seq in createdAt.map { (seq, $0) } }
        )
    }
}

extension PostMessageStatement {
    /// The statement that posts `message` as the caller, optionally recording an
    /// idempotency key; `permissions` are the caller's role's, from the catalog.
    init(
        _ message: NewMessage,
        permissions: PolicyCatalog.RolePermissions,
        rateLimit: PolicyCatalog.RateLimit?,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) {
        self.init(
            threadID: message.threadID,
            workspace: context.identity.workspace,
            author: context.identity.handle,
            isSystem: false,
            mayPostWhileBlocked: permissions.postWhenBlocked,
            bypassMembership: permissions.bypassMembership,
            replyToSeq: message.replyToSeq,
            to: message.to,
            messageID: UUID(),
            kind: message.kind.rawValue,
            body: message.body,
            payloadJSON: message.encodedPayload,
            schemaVersion: message.schemaVersion,
            bodyHash: ContentHash.sha256Hex(message.body),
            requestID: context.requestID,
            idempotencyKey: idempotency?.key,
            requestHash: idempotency?.requestHash,
            rateLimit: rateLimit.map { (Double($0.count), Double($0.count) / max($0.window.seconds, 0.001)) }
        )
    }

    /// The statement that appends a `system` message to a thread of the caller's workspace.
    init(systemMessage message: NewMessage, context: CallContext) {
        self.init(
            threadID: message.threadID,
            workspace: context.identity.workspace,
            author: PostMessageStatement.systemAuthor,
            isSystem: true,
            mayPostWhileBlocked: true,
            bypassMembership: true,
            replyToSeq: nil,
            to: message.to,
            messageID: UUID(),
            kind: MessageKind.system.rawValue,
            body: message.body,
            payloadJSON: message.encodedPayload,
            schemaVersion: message.schemaVersion,
            bodyHash: ContentHash.sha256Hex(message.body),
            requestID: context.requestID,
            idempotencyKey: nil,
            requestHash: nil,
            rateLimit: nil
        )
    }

    /// The author of every system message.
    static let systemAuthor = "system"

    /// The stored message this statement wrote.
    func message(_ message: NewMessage, seq: Int64, createdAt: Date) -> Message {
        Message(
            id: messageID,
            threadID: threadID,
            seq: seq,
            author: author,
            kind: MessageKind(rawValue: kind) ?? message.kind,
            to: message.to,
            replyToSeq: message.replyToSeq,
            body: message.body,
            payload: message.payload,
            schemaVersion: message.schemaVersion,
            bodyHash: bodyHash,
            createdAt: createdAt
        )
    }

    /// Runs the statement on `connection` (in the caller's transaction, or alone) and returns its one row, or nil
    /// when the thread does not exist in the workspace.
    func run(on connection: PostgresConnection, logger: Logger) async throws -> Row? {
        var answer: Row?
        for try await row in try await connection.execute(self, logger: logger) { answer = row }
        return answer
    }

    /// ``run(on:logger:)`` with the statement's own `pg_notify` (``NotifyingPostMessageStatement``).
    func runNotifying(on connection: PostgresConnection, logger: Logger) async throws -> Row? {
        var answer: Row?
        for try await row in try await connection.execute(NotifyingPostMessageStatement(post: self), logger: logger) { answer = row }
        return answer
    }
}
