import Foundation
import BridgeCore
import PostgresNIO

/// The hot path: seq assignment, insert, audit, idempotency record and NOTIFY in one prepared statement,
/// one round trip. The thread row's lock is held only for this statement.
///
/// No row comes back when the thread is missing, closed, blocked for this author, the author is not a
/// member, a recipient is not a member, or `reply_to_seq` is beyond the last seq; the caller diagnoses which.
struct PostMessageStatement: PostgresPreparedStatement {
    static let name = "agent_bridge_post_message_v1"
    static let sql = """
        WITH t AS (
            UPDATE threads SET last_seq = last_seq + 1, updated_at = now()
             WHERE id = $1 AND workspace_id = $2
               AND (status = 'active' OR (status = 'blocked' AND $3))
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

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 15)
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
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

extension PostMessageStatement {
    /// The statement that posts `message` (its payload already encoded) as the caller, optionally recording an idempotency key.
    /// `mayPostWhileBlocked` is the caller's catalog permission to post to a blocked thread.
    init(_ message: NewMessage, payloadJSON: String, mayPostWhileBlocked: Bool, context: CallContext, idempotency: IdempotencyScope?) {
        self.init(
            threadID: message.threadID, workspace: context.identity.workspace,
            authorMayPostWhileBlocked: mayPostWhileBlocked, author: context.identity.handle,
            replyToSeq: message.replyToSeq, to: message.to, messageID: UUID(), kind: message.kind.rawValue,
            body: message.body, payloadJSON: payloadJSON,
            schemaVersion: message.schemaVersion, bodyHash: ContentHash.sha256Hex(message.body), requestID: context.requestID,
            idempotencyKey: idempotency?.key, requestHash: idempotency?.requestHash)
    }

    /// The stored message this statement wrote, given the row it returned.
    func message(_ message: NewMessage, row: Row) -> Message {
        Message(
            id: messageID, threadId: threadID, seq: row.0, author: author, kind: message.kind, to: message.to,
            replyToSeq: message.replyToSeq, body: message.body, payload: message.payload,
            schemaVersion: message.schemaVersion, bodyHash: bodyHash, createdAt: row.1)
    }
}
