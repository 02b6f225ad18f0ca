import BridgeCore
import Foundation
import PostgresNIO

extension PostgresStore {
    /// Adds a `serve` process's API call tallies to `api_request_stats`, in one upsert on the row of the hour.
    public func recordAPIRequests(_ tallies: [APIRequestStats.Key: APIRequestStats.Tally], workspace: String) async throws(BridgeError) {
        guard !tallies.isEmpty else { return }
        let entries = Array(tallies)
        let tools = entries.map(\.key.tool)
        let codes = entries.map(\.key.code)
        let counts = entries.map(\.value.count)
        let durations = entries.map(\.value.durationSeconds)
        let buckets = entries.map { "{" + $0.value.buckets.map(String.init).joined(separator: ",") + "}" }
        _ = try await withTransaction { connection in
            try await connection.query(
                """
                INSERT INTO api_request_stats AS s (workspace_id, tool, code, period_start, request_count, duration_seconds, bucket_counts)
                SELECT \(workspace), u.tool, u.code, date_trunc('hour', now()), u.n, u.d, u.b::bigint[]
                  FROM unnest(\(tools)::text[], \(codes)::text[], \(counts)::bigint[], \(durations)::float8[], \(buckets)::text[])
                       AS u (tool, code, n, d, b)
                ON CONFLICT (workspace_id, tool, code, period_start) DO UPDATE
                   SET request_count = s.request_count + excluded.request_count,
                       duration_seconds = s.duration_seconds + excluded.duration_seconds,
                       bucket_counts = (SELECT array_agg(x + y ORDER BY i)
                                          FROM unnest(s.bucket_counts, excluded.bucket_counts) WITH ORDINALITY AS z (x, y, i)),
                       updated_at = now()
                """,
                logger: self.logger
            )
        }
    }

    /// Reads every database-derived figure of `/metrics` and `status` for a workspace in three aggregate queries.
    ///
    /// - Parameter attemptsSince: the start of the wake start latency window, on the supervisor's clock (wake
    ///   attempts are stamped with it).
    /// - Parameter now: the time the oldest unread message's age is measured to, on the supervisor's clock;
    ///   nil: the database's clock.
    public func workspaceMetrics(workspace: String, attemptsSince: Date, now: Date? = nil) async throws(BridgeError) -> WorkspaceMetrics {
        let lockClass = Int64(LeaderLock.lockClass)
        return try await withConnection { connection in
            var metrics = WorkspaceMetrics()
            for kind in MessageKind.allCases { metrics.messagesByKind[kind.rawValue] = 0 }
            for status in ThreadStatus.allCases { metrics.threadsByStatus[status.rawValue] = 0 }
            for state in ApprovalTicket.State.allCases { metrics.ticketsByState[state.rawValue] = 0 }
            for reason in [Reason.noProgressLimit, .repeatedFinding] { metrics.loopGuardTrips[reason.rawValue] = 0 }
            for result in WorkspaceMetrics.wakeResultNames { metrics.wakeResults[result] = 0 }
            // The reasons the planner gives up with; others (from older builds) appear when present.
            for reason in [Reason.unmanagedRuntimeTarget, .deferWindowExceeded, .wakeRetriesExhausted] {
                metrics.deliveryFailures[reason.rawValue] = 0
            }

            let figures = try await connection.query(
                """
                WITH unread AS (
                    SELECT count(*) AS n, min(m.created_at) AS oldest
                      FROM thread_participants p
                      JOIN messages m ON m.thread_id = p.thread_id AND m.seq > p.cursor_seq
                     WHERE p.workspace_id = \(workspace) AND p.left_at IS NULL AND m.author <> p.handle
                       AND (cardinality(m.to_handles) = 0 OR p.handle = ANY (m.to_handles))
                ), starts AS (
                    SELECT extract(epoch FROM a.started_at - m.created_at)::float8 AS s
                      FROM wake_attempts a
                      JOIN wake_requests r ON r.id = a.request_id
                      JOIN messages m ON m.thread_id = r.thread_id AND m.seq = r.trigger_seq
                     WHERE a.started_at > \(attemptsSince) AND a.attempt = 1 AND r.workspace_id = \(workspace)
                       -- A deliberate deferral is not wake latency.
                       AND r.deferred_since IS NULL
                )
                SELECT 'message' AS family, kind AS label, count(*)::float8 AS value FROM messages WHERE workspace_id = \(workspace) GROUP BY kind
                UNION ALL
                SELECT 'thread', status, count(*)::float8 FROM threads WHERE workspace_id = \(workspace) GROUP BY status
                UNION ALL
                SELECT 'ticket', state, count(*)::float8 FROM approval_tickets WHERE workspace_id = \(workspace) GROUP BY state
                UNION ALL
                SELECT 'ticket_escalated', '', count(*)::float8 FROM approval_tickets
                 WHERE workspace_id = \(workspace) AND state = 'pending' AND escalated_at IS NOT NULL
                UNION ALL
                SELECT action, coalesce(reason, ''), count(*)::float8 FROM audit_events
                 WHERE workspace_id = \(workspace) AND action IN ('thread.escalate', 'wake.deferred') GROUP BY action, reason
                UNION ALL
                SELECT 'wake', state, count(*)::float8 FROM wake_requests WHERE workspace_id = \(workspace) GROUP BY state
                UNION ALL
                SELECT 'failure', coalesce(reason, 'UNKNOWN'), count(*)::float8 FROM wake_requests
                 WHERE workspace_id = \(workspace) AND state IN ('failed', 'dead', 'deferred_timeout') GROUP BY reason
                UNION ALL
                SELECT 'attempts', '', count(*)::float8 FROM wake_attempts a JOIN wake_requests r ON r.id = a.request_id
                 WHERE r.workspace_id = \(workspace)
                UNION ALL
                SELECT 'leader', '', pid::float8 FROM pg_locks
                 WHERE locktype = 'advisory' AND granted AND objsubid = 2
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND classid::bigint = \(lockClass) AND objid::bigint = (hashtext(\(workspace))::bigint & 4294967295)
                UNION ALL
                SELECT 'unread', '', n::float8 FROM unread
                UNION ALL
                SELECT 'oldest_unread', '', coalesce(extract(epoch FROM coalesce(\(now), now()) - oldest), 0)::float8 FROM unread
                UNION ALL
                SELECT 'wake_start_p50', '', percentile_disc(0.5) WITHIN GROUP (ORDER BY s) FROM starts
                UNION ALL
                SELECT 'wake_start_p95', '', percentile_disc(0.95) WITHIN GROUP (ORDER BY s) FROM starts
                """,
                logger: self.logger
            )
            for try await row in figures {
                let cells = row.makeRandomAccess()
                let family: String = try cells.value("family")
                let label: String = try cells.value("label")
                let value: Double? = try cells.value("value")
                let count = Int64(value ?? 0)
                switch family {
                case "message": metrics.messagesByKind[label] = count
                case "thread": metrics.threadsByStatus[label] = count
                case "ticket": metrics.ticketsByState[label] = count
                case "ticket_escalated": metrics.ticketsEscalatedPending = count
                case "thread.escalate":
                    metrics.escalations += count
                    if metrics.loopGuardTrips[label] != nil { metrics.loopGuardTrips[label, default: 0] += count }
                case "wake.deferred": metrics.wakeResults["deferred", default: 0] += count
                case "wake":
                    if ["pending", "deferred", "triggered"].contains(label) {
                        metrics.openWakes += count
                    } else {
                        metrics.wakeResults[label] = count
                    }
                case "failure": metrics.deliveryFailures[label] = count
                case "attempts": metrics.wakeResults["triggered"] = count
                case "leader": metrics.leaderBackendPID = value.map { Int32($0) }
                case "unread": metrics.unreadMessages = count
                case "oldest_unread": metrics.oldestUnreadSeconds = value ?? 0
                case "wake_start_p50": metrics.wakeStartLatencyP50 = value
                case "wake_start_p95": metrics.wakeStartLatencyP95 = value
                default: break
                }
            }

            let requests = try await connection.query(
                """
                SELECT tool, code, sum(request_count)::bigint AS count, sum(duration_seconds)::float8 AS duration_seconds FROM api_request_stats
                 WHERE workspace_id = \(workspace) GROUP BY tool, code ORDER BY tool, code
                """,
                logger: self.logger
            )
            for try await row in requests {
                let cells = row.makeRandomAccess()
                metrics.apiRequests.append(
                    .init(
                        tool: try cells.value("tool"),
                        code: try cells.value("code"),
                        count: try cells.value("count"),
                        durationSeconds: try cells.value("duration_seconds")
                    )
                )
            }

            var readBuckets = [Int64](repeating: 0, count: APIRequestStats.bucketCount)
            let reads = try await connection.query(
                """
                SELECT bucket_counts FROM api_request_stats
                 WHERE workspace_id = \(workspace) AND tool IN ('v1_message_read', 'v1_inbox') AND code = 'OK'
                   AND period_start >= date_trunc('hour', now()) - interval '1 hour'
                """,
                logger: self.logger
            )
            for try await buckets in reads.decode([Int64].self) {
                for index in readBuckets.indices where index < buckets.count { readBuckets[index] += buckets[index] }
            }
            metrics.readLatencyP50 = APIRequestStats.quantileUpperBound(0.5, buckets: readBuckets)
            metrics.readLatencyP95 = APIRequestStats.quantileUpperBound(0.95, buckets: readBuckets)
            return metrics
        }
    }
}
