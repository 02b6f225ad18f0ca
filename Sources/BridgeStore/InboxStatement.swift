import Foundation
import PostgresNIO

/// The inbox's one statement, prepared once per connection: up to `limit + 1` unread messages of `handle` across its
/// threads, oldest first: broadcasts and those directed to it, not its own.
///
/// It walks the workspace's messages in time order (`messages_by_workspace_time`, migration 0007) and stops at its
/// page, checking each message against the caller's row of its thread by primary key. The walk starts at the oldest
/// point an unread message can have: the earliest, over the caller's threads with unread messages (`last_seq`
/// beyond the cursor), of its cursor's message time (`cursor_at`) less ``lookback``, or the thread's creation when
/// nothing is acknowledged. A caller with nothing unread walks nothing.
///
/// Public so the bench times exactly this statement as PostgreSQL's share of an inbox call.
public struct InboxStatement: PostgresPreparedStatement {
    /// Rows as PostgreSQL sent them; ``PostgresStore/inbox(limit:context:)`` decodes them by column name.
    public typealias Row = PostgresRow

    /// How far before a cursor's message the walk starts. A message's `created_at` is its transaction's start, and
    /// its seq is taken later, at the thread's row lock: a post that waited for the lock can be older than the
    /// message before it. That wait is bounded by `lock_timeout` (``DatabaseEndpoint``); this is many times it.
    /// A thread with nothing acknowledged needs none: no message of it is older than the thread.
    public static let lookback = "1 minute"

    public static let sql = """
        SELECT \(MessageRow.columns)
          FROM messages m
          JOIN thread_participants p ON p.thread_id = m.thread_id AND p.handle = $2::text AND p.left_at IS NULL
                                    AND m.seq > p.cursor_seq
         WHERE m.workspace_id = $1::text
           AND m.created_at >= (
               SELECT min(COALESCE(u.cursor_at - interval '\(lookback)', t.created_at))
                 FROM thread_participants u JOIN threads t ON t.id = u.thread_id AND t.last_seq > u.cursor_seq
                WHERE u.workspace_id = $1::text AND u.handle = $2::text AND u.left_at IS NULL)
           AND m.author <> $2::text
           AND (cardinality(m.to_handles) = 0 OR $2::text = ANY (m.to_handles))
         ORDER BY m.created_at, m.thread_id, m.seq
         LIMIT $3::bigint
        """

    public var limit: Int
    public var handle: String
    public var workspace: String

    public init(limit: Int, handle: String, workspace: String) {
        self.limit = limit
        self.handle = handle
        self.workspace = workspace
    }

    public func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(workspace)
        bindings.append(handle)
        bindings.append(Int64(limit + 1))
        return bindings
    }

    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
