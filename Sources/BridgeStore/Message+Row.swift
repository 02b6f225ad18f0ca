import BridgeCore
import Foundation
import PostgresNIO

/// A message as the store selects it: ``columns`` (on `messages m`) in the statement, then one ``MessageRow`` per row.
struct MessageRow: StoreRow {
    static let columns = """
        m.id, m.thread_id, m.seq, m.author, m.kind, m.to_handles, m.reply_to_seq, m.body, m.payload::text AS payload,
        m.schema_version, m.body_hash, m.created_at
        """

    let message: Message

    init(_ cells: PostgresRandomAccessRow) throws {
        message = Message(
            id: try cells.value("id"),
            threadID: try cells.value("thread_id"),
            seq: try cells.value("seq"),
            author: try cells.value("author"),
            kind: MessageKind(rawValue: try cells.value("kind")) ?? .note,
            to: try cells.value("to_handles"),
            replyToSeq: try cells.value("reply_to_seq"),
            body: try cells.value("body"),
            payload: try JSONParser.parse(try cells.value("payload", as: String.self).utf8),
            schemaVersion: try cells.value("schema_version"),
            bodyHash: try cells.value("body_hash"),
            createdAt: try cells.value("created_at")
        )
    }
}
