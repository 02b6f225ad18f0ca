import Foundation
import PostgresNIO

/// The read's one statement, prepared once per connection: the thread's last seq, status and whether `handle` is a
/// member, and (for a member, or anyone when `bypassMembership`) up to `limit + 1` messages after `afterSeq`, one row
/// each (one row of NULL message columns when there are none).
///
/// Prepared, because planning this statement cost PostgreSQL several times what running it does (README, Service
/// levels, Read path). Public so the bench times exactly this statement as PostgreSQL's share of a read.
public struct MessagePageStatement: PostgresPreparedStatement {
    /// Rows as PostgreSQL sent them; ``PostgresStore/readMessages(threadID:afterSeq:limit:bypassMembership:context:refused:)``
    /// decodes them by column name.
    public typealias Row = PostgresRow

    public static let sql = """
        WITH t AS (
            SELECT t.id, t.last_seq, t.status,
                   EXISTS (SELECT 1 FROM thread_participants p
                            WHERE p.thread_id = t.id AND p.handle = $3::text AND p.left_at IS NULL) AS member
              FROM threads t WHERE t.id = $1::uuid AND t.workspace_id = $4::text
        )
        SELECT t.last_seq, t.member, t.status, \(MessageRow.columns)
          FROM t LEFT JOIN LATERAL (
               SELECT * FROM messages m WHERE m.thread_id = t.id AND m.seq > $2::bigint AND (t.member OR $6::boolean)
                ORDER BY m.seq LIMIT $5::bigint) m ON true
         ORDER BY m.seq
        """

    public var threadID: UUID
    public var afterSeq: Int64
    public var limit: Int
    public var handle: String
    public var workspace: String
    public var bypassMembership: Bool

    public init(threadID: UUID, afterSeq: Int64, limit: Int, handle: String, workspace: String, bypassMembership: Bool = false) {
        self.threadID = threadID
        self.afterSeq = afterSeq
        self.limit = limit
        self.handle = handle
        self.workspace = workspace
        self.bypassMembership = bypassMembership
    }

    public func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(threadID)
        bindings.append(afterSeq)
        bindings.append(handle)
        bindings.append(workspace)
        bindings.append(Int64(limit + 1))
        bindings.append(bypassMembership)
        return bindings
    }

    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
