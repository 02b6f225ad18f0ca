import BridgeCore
import Foundation
import Logging
import PostgresNIO

/// The raw-PostgreSQL baselines `agent-bridge bench` sets the store's posts against, each one prepared statement
/// sent straight over PostgresNIO (autocommit, one round trip) with no retry, timeout or error mapping.
public enum PostBaseline: String, Sendable, CaseIterable {
    /// (a) The least a post can be: one statement that bumps the thread's `last_seq` and inserts the message row
    /// with it. No guard, audit, idempotency record or notify.
    case minimalAppend = "minimal_append"
    /// (b) The store's post statement (``PostMessageStatement``: guards, seq, insert, audit) without `pg_notify`.
    case statement
    /// (c) The same statement with `pg_notify` in it, which takes PostgreSQL's global notify lock at commit and
    /// holds it while the commit record is flushed.
    case statementWithNotify = "statement_with_notify"
}

/// Baseline (a): the seq bump and the insert, in one statement.
struct MinimalAppendStatement: PostgresPreparedStatement {
    static let name = "agent_bridge_bench_minimal_append_v1"
    static let sql = """
        WITH t AS (UPDATE threads SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
        INSERT INTO messages (thread_id, seq, id, workspace_id, author, kind, body, schema_version, body_hash)
        SELECT $1, t.last_seq, $2, $3, $4, 'note', $5, $6, $7 FROM t
        RETURNING seq
        """
    static let bindingDataTypes: [PostgresDataType] = [.uuid, .uuid, .text, .text, .text, .text, .text]

    var threadID: UUID
    var messageID: UUID
    var workspace: String
    var author: String
    var body: String
    var schemaVersion: String
    var bodyHash: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(threadID)
        bindings.append(messageID)
        bindings.append(workspace)
        bindings.append(author)
        bindings.append(body)
        bindings.append(schemaVersion)
        bindings.append(bodyHash)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// ``PostMessageStatement`` with a `pg_notify` of the thread id in it: the store's post in its `in_statement`
/// notify mode, and the bench's baseline (c).
struct NotifyingPostMessageStatement: PostgresPreparedStatement {
    static let name = PostMessageStatement.name + "_notifying"
    static let sql = PostMessageStatement.text(notifying: true)
    static let bindingDataTypes = PostMessageStatement.bindingDataTypes

    var post: PostMessageStatement

    func makeBindings() throws -> PostgresBindings { try post.makeBindings() }
    func decodeRow(_ row: PostgresRow) throws -> PostMessageStatement.Row { try post.decodeRow(row) }
}

extension PostgresStore {
    /// Sends one post of `baseline` as a `note` by `author` to `threadID`: `agent-bridge bench`'s raw-PostgreSQL
    /// figures. Returns whether a row was written.
    public func postBaseline(
        _ baseline: PostBaseline,
        threadID: UUID,
        workspace: String,
        author: String,
        body: String,
        bodyHash: String,
        requestID: String
    ) async throws -> Bool {
        let post = PostMessageStatement(
            threadID: threadID,
            workspace: workspace,
            author: author,
            isSystem: false,
            mayPostWhileBlocked: false,
            bypassMembership: false,
            replyToSeq: nil,
            to: [],
            messageID: UUID(),
            kind: MessageKind.note.rawValue,
            body: body,
            payloadJSON: "{}",
            schemaVersion: SchemaVersion.current,
            bodyHash: bodyHash,
            requestID: requestID,
            idempotencyKey: nil,
            requestHash: nil,
            rateLimit: nil
        )
        var written = false
        switch baseline {
        case .minimalAppend:
            let append = MinimalAppendStatement(
                threadID: threadID,
                messageID: post.messageID,
                workspace: workspace,
                author: author,
                body: body,
                schemaVersion: post.schemaVersion,
                bodyHash: bodyHash
            )
            for try await _ in try await client.execute(append, logger: logger) { written = true }
        case .statement:
            for try await row in try await client.execute(post, logger: logger) { written = row.written != nil }
        case .statementWithNotify:
            for try await row in try await client.execute(NotifyingPostMessageStatement(post: post), logger: logger) {
                written = row.written != nil
            }
        }
        return written
    }
}
