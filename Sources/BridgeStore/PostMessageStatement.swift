import Foundation
import BridgeCore
import PostgresNIO

/// The hot path: seq assignment, insert, audit, idempotency record and NOTIFY in one prepared statement,
/// one round trip. The thread row's lock is held only for this statement.
///
/// No row comes back when the thread is missing, closed, blocked for this author, the author is not a
/// member, a recipient is not a member, `reply_to_seq` is beyond the last seq, or the author's post
/// allowance (the catalog's rate limit, a token bucket on the participant row) is spent; the caller
/// diagnoses which.
struct PostMessageStatement: PostgresPreparedStatement {
    static let name = "agent_bridge_post_message_v2"
    /// The allowance left now: the stored one refilled for the time since, capped at the bucket size ($16).
    static let allowanceNow = "LEAST($16, COALESCE(post_allowance, $16) + $17 * EXTRACT(EPOCH FROM now() - COALESCE(post_allowance_at, now())))"
    static let sql = """
        WITH r AS (
            UPDATE participants SET post_allowance = \(allowanceNow) - 1, post_allowance_at = now()
             WHERE $16 IS NOT NULL AND workspace_id = $2 AND handle = $4 AND \(allowanceNow) >= 1
            RETURNING 1
        ), t AS (
            UPDATE threads SET last_seq = last_seq + 1, updated_at = now()
             WHERE id = $1 AND workspace_id = $2
               AND (status = 'active' OR (status = 'blocked' AND $3))
               AND ($16 IS NULL OR EXISTS (SELECT 1 FROM r)
                    OR NOT EXISTS (SELECT 1 FROM participants WHERE workspace_id = $2 AND handle = $4))
               AND EXISTS (SELECT 1 FROM thread_participants p
                            WHERE p.thread_id = $1 AND p.handle = $4 AND p.left_at IS NULL)
               AND ($5::bigint IS NULL OR $5 <= last_seq)
               AND cardinality($6) = (SELECT count(*) FROM thread_participants p
                                       WHERE p.thread_id = $1 AND p.handle = ANY ($6) AND p.left_at IS NULL)
            RETURNING last_seq
        ), m AS (
            INSERT INTO messages (thread_id, seq, id, workspace_id, author, kind, to_handles, reply_to_seq,
                                  body, payload, schema_version, body_hash, request_id)
            SELECT $1, t.last_seq, $7, $2, $4, $8, $6, $5, $9, $10::jsonb, $11, $12, $13 FROM t
            RETURNING seq, created_at
        ), a AS (
            INSERT INTO audit_events (workspace_id, actor, action, target, after, request_id)
            SELECT $2, 'participant:' || $4, 'message.post', 'thread:' || $1::text,
                   jsonb_build_object('seq', m.seq, 'message_id', $7, 'kind', $8, 'to', $6), $13
              FROM m
        ), i AS (
            INSERT INTO idempotency_keys (workspace_id, caller, tool, key, request_hash, result_ref)
            SELECT $2, $4, 'v1_message_post', $14, $15, $7 FROM m WHERE $14 IS NOT NULL
        ), n AS (
            SELECT pg_notify('\(PostgresStore.messageChannel)', $1::text) FROM m
        )
        SELECT m.seq, m.created_at FROM m, n
        """
    static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .text, .bool, .text, .int8, .textArray, .uuid, .text, .text, .text, .text, .text, .text, .text, .text,
        .float8, .float8,
    ]
    typealias Row = (Int64, Date)

    var threadID: UUID
    var workspace: String
    var authorMayPostWhileBlocked: Bool
    var author: String
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
        var bindings = PostgresBindings(capacity: 17)
        bindings.append(threadID)
        bindings.append(workspace)
        bindings.append(authorMayPostWhileBlocked)
        bindings.append(author)
        if let replyToSeq { bindings.append(replyToSeq) } else { bindings.appendNull() }
        bindings.append(to)
        bindings.append(messageID)
        bindings.append(kind)
        bindings.append(body)
        bindings.append(payloadJSON)
        bindings.append(schemaVersion)
        bindings.append(bodyHash)
        bindings.append(requestID)
        if let idempotencyKey { bindings.append(idempotencyKey) } else { bindings.appendNull() }
        if let requestHash { bindings.append(requestHash) } else { bindings.appendNull() }
        if let rateLimit {
            bindings.append(rateLimit.capacity)
            bindings.append(rateLimit.perSecond)
        } else {
            bindings.appendNull()
            bindings.appendNull()
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

extension PostMessageStatement {
    /// The statement that posts `message` (its payload already encoded) as the caller, optionally recording an idempotency key.
    /// `mayPostWhileBlocked` is the caller's catalog permission to post to a blocked thread.
    init(
        _ message: NewMessage, payloadJSON: String, mayPostWhileBlocked: Bool, rateLimit: PolicyCatalog.RateLimit?,
        context: CallContext, idempotency: IdempotencyScope?
    ) {
        self.init(
            threadID: message.threadID, workspace: context.identity.workspace,
            authorMayPostWhileBlocked: mayPostWhileBlocked, author: context.identity.handle,
            replyToSeq: message.replyToSeq, to: message.to, messageID: UUID(), kind: message.kind.rawValue,
            body: message.body, payloadJSON: payloadJSON,
            schemaVersion: message.schemaVersion, bodyHash: ContentHash.sha256Hex(message.body), requestID: context.requestID,
            idempotencyKey: idempotency?.key, requestHash: idempotency?.requestHash,
            rateLimit: rateLimit.map { (Double($0.count), Double($0.count) / max($0.window.seconds, 0.001)) })
    }

    /// The stored message this statement wrote, given the row it returned.
    func message(_ message: NewMessage, row: Row) -> Message {
        Message(
            id: messageID, threadId: threadID, seq: row.0, author: author, kind: message.kind, to: message.to,
            replyToSeq: message.replyToSeq, body: message.body, payload: message.payload,
            schemaVersion: message.schemaVersion, bodyHash: bodyHash, createdAt: row.1)
    }
}

extension PostgresStore {
    /// The post transaction (seq advance, insert, audit, NOTIFY) sent straight over PostgresNIO as a `note` by
    /// `author`, with no rate limit, idempotency key, retry, timeout or error mapping: `agent-bridge bench`'s
    /// raw-PostgreSQL baseline, the same prepared statement the store's posts use. Returns whether a row was written.
    public func postBaseline(threadID: UUID, workspace: String, author: String, body: String, bodyHash: String, requestID: String) async throws -> Bool {
        let statement = PostMessageStatement(
            threadID: threadID, workspace: workspace, authorMayPostWhileBlocked: false, author: author, replyToSeq: nil, to: [],
            messageID: UUID(), kind: MessageKind.note.rawValue, body: body, payloadJSON: "{}", schemaVersion: SchemaVersion.current,
            bodyHash: bodyHash, requestID: requestID, idempotencyKey: nil, requestHash: nil, rateLimit: nil)
        var written = false
        for try await _ in try await client.execute(statement, logger: logger) { written = true }
        return written
    }
}
