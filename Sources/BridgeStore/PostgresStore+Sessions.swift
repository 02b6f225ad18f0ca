import BridgeCore
import Foundation
import PostgresNIO

/// A session lease as stored: live while `expires_at` is ahead of the database's clock.
public struct SessionLease: Codable, Sendable, Hashable {
    public var id: UUID
    public var handle: String
    public var clientName: String?
    public var clientVersion: String?
    public var runtime: String
    public var sessionID: String?
    public var pid: Int
    public var host: String
    public var channel: Bool
    public var startedAt: Date
    public var renewedAt: Date
    public var expiresAt: Date
    public var live: Bool

    enum CodingKeys: String, CodingKey {
        case id, handle
        case clientName = "client_name"
        case clientVersion = "client_version"
        case runtime
        case sessionID = "session_id"
        case pid, host,
            channel
        case startedAt = "started_at"
        case renewedAt = "renewed_at"
        case expiresAt = "expires_at"
        case live
    }
}

extension PostgresStore {
    /// Takes or renews the lease: it expires `ttl` after now on the database's clock. The first claim of a
    /// process also clears leases of the workspace that expired more than a day ago.
    public func renewSessionLease(_ claim: SessionLeaseClaim, ttl: Duration, workspace: String) async throws(BridgeError) {
        let milliseconds = Int64(ttl.seconds * 1000)
        _ = try await withTransaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO session_leases (id, workspace_id, handle, client_name, client_version, runtime_kind, session_id, pid, host,
                                            channel, expires_at)
                VALUES (\(claim.id), \(workspace), \(claim.handle), \(claim.clientName), \(claim.clientVersion), \(claim.runtime.rawValue),
                        \(claim.sessionID), \(Int(claim.pid)), \(claim.host), \(claim.channel),
                        now() + make_interval(secs => \(milliseconds) / 1000.0))
                ON CONFLICT (id) DO UPDATE SET
                    handle = EXCLUDED.handle, client_name = EXCLUDED.client_name, client_version = EXCLUDED.client_version,
                    runtime_kind = EXCLUDED.runtime_kind, session_id = EXCLUDED.session_id, channel = EXCLUDED.channel,
                    renewed_at = now(), expires_at = EXCLUDED.expires_at
                RETURNING (xmax = 0)
                """,
                logger: self.logger
            )
            var created = false
            for try await inserted in rows.decode(Bool.self) { created = inserted }
            if created {
                try await connection.query(
                    """
                    DELETE FROM session_leases WHERE workspace_id = \(workspace) AND expires_at < now() - interval '1 day'
                    """,
                    logger: self.logger
                )
            }
            return created
        }
    }

    /// Ends the lease at once (the process is exiting).
    public func releaseSessionLease(id: UUID, workspace: String) async throws(BridgeError) {
        _ = try await withTransaction { connection in
            try await connection.query("DELETE FROM session_leases WHERE id = \(id) AND workspace_id = \(workspace)", logger: self.logger)
            return true
        }
    }

    /// The workspace's leases, newest first: live ones only unless `includeEnded`, of one participant when `handle` is set.
    public func sessionLeases(workspace: String, handle: String? = nil, includeEnded: Bool = false) async throws(BridgeError) -> [SessionLease] {
        try await withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: SessionLeaseRow.columns) FROM session_leases
                 WHERE workspace_id = \(workspace) AND (\(handle)::text IS NULL OR handle = \(handle))
                   AND (\(includeEnded) OR expires_at > now())
                 ORDER BY started_at DESC, id
                """,
                logger: self.logger
            )
            var leases: [SessionLease] = []
            for try await row in rows { leases.append(try SessionLeaseRow(row).lease) }
            return leases
        }
    }
}

extension PostgresStore {
    /// Messages directed at `handle` that it has not read, in the threads it belongs to, oldest first: past its
    /// cursor and past `pushed` (the highest seq already pushed per thread this session).
    public func unreadDirectedMessages(
        to handle: String,
        after pushed: [UUID: Int64],
        limit: Int = 100,
        workspace: String
    ) async throws(BridgeError) -> [Message] {
        let threads = Array(pushed.keys)
        let seqs = threads.map { pushed[$0]! }
        return try await withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: MessageRow.columns)
                  FROM thread_participants tp
                  LEFT JOIN unnest(\(threads)::uuid[], \(seqs)::int8[]) AS w(thread_id, seq) ON w.thread_id = tp.thread_id
                  JOIN messages m ON m.thread_id = tp.thread_id AND m.seq > greatest(tp.cursor_seq, coalesce(w.seq, 0))
                 WHERE tp.workspace_id = \(workspace) AND tp.handle = \(handle) AND tp.left_at IS NULL
                   AND \(handle) = ANY (m.to_handles) AND m.author <> \(handle)
                 ORDER BY m.created_at, m.thread_id, m.seq
                 LIMIT \(limit)
                """,
                logger: self.logger
            )
            var messages: [Message] = []
            for try await row in rows { messages.append(try MessageRow(row).message) }
            return messages
        }
    }
}

extension PostgresStore {
    /// The open wake requests for `handle` that a participant or operator asked for (not the supervisor's own,
    /// which follow directed messages), oldest first, leaving out `known` and those whose thread the target has
    /// acked up to the wake's seq.
    public func requestedWakes(for handle: String, excluding known: Set<UUID>, workspace: String) async throws(BridgeError) -> [RequestedWake] {
        let known = Array(known)
        return try await withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT w.id, w.thread_id, w.trigger_seq, w.requested_by FROM wake_requests w
                 WHERE w.workspace_id = \(workspace) AND w.target = \(handle) AND w.state IN \(unescaped: Self.openWakeStates)
                   AND w.requested_by <> 'supervisor' AND NOT (w.id = ANY (\(known)::uuid[]))
                   -- A target that has already acked the thread up to the wake's seq has nothing left to be told.
                   AND NOT EXISTS (SELECT 1 FROM thread_participants p
                                    WHERE p.thread_id = w.thread_id AND p.handle = w.target AND p.left_at IS NULL
                                      AND p.cursor_seq >= w.trigger_seq)
                 ORDER BY w.created_at, w.id
                 LIMIT 20
                """,
                logger: self.logger
            )
            var wakes: [RequestedWake] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                wakes.append(
                    RequestedWake(
                        id: try cells.value("id"),
                        threadID: try cells.value("thread_id"),
                        triggerSeq: try cells.value("trigger_seq"),
                        requestedBy: try cells.value("requested_by")
                    )
                )
            }
            return wakes
        }
    }
}
