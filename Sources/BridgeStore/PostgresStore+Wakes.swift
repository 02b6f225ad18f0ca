import BridgeCore
import Foundation
import PostgresNIO

/// An open wake request as the supervisor sees it: the planner's facts plus what a runtime command needs.
public struct OpenWake: Sendable {
    public var facts: WakeFacts
    /// The row version this view was read at; a change applies only to it.
    public var version: Int
    public var target: String
    public var threadID: UUID
    public var triggerSeq: Int64
    /// The target's read cursor in the thread.
    public var cursorSeq: Int64
    /// How many attempts were started so far.
    public var attemptCount: Int
    /// Why a deferred request waits (`HUMAN_INPUT_COLLISION`, `SESSION_LIVE`).
    public var deferReason: Reason?
    /// The target's role (its participant row), for the woken process's `AGENT_BRIDGE_ROLE`.
    public var role: Role

    public var id: UUID { facts.requestID }
}

/// A claimed attempt: the supervisor that claimed it runs the process.
public struct ClaimedAttempt: Sendable {
    public var requestID: UUID
    public var attempt: Int
    public var action: WakeAction
}

extension PostgresStore {
    static let openWakeStates = "('pending', 'deferred', 'triggered')"

    // MARK: - Finding work

    /// Creates a wake request for every eligible participant with unread directed messages in an active
    /// thread that no request covers yet: managed runtimes anywhere, unmanaged ones in autonomous lanes
    /// (which then fail as `UNMANAGED_RUNTIME_TARGET`). At most one open request per participant.
    /// A request that found the target already active is renewed once the target has gone quiet.
    @discardableResult
    public func discoverWakeWork(now: Date, freshWindow: Duration, context: CallContext) async throws(BridgeError) -> Int {
        let workspace = context.identity.workspace
        let quietSince = now.addingTimeInterval(-freshWindow.seconds)
        return try await withTransaction { connection in
            let rows = try await connection.query(
                """
                WITH eligible AS (
                    SELECT tp.thread_id, tp.handle, tp.cursor_seq, greatest(p.last_heartbeat_at, p.last_seen_at) AS last_activity
                      FROM thread_participants tp
                      JOIN threads t ON t.id = tp.thread_id AND t.status = 'active'
                      JOIN participants p ON p.workspace_id = tp.workspace_id AND p.handle = tp.handle
                     WHERE tp.workspace_id = \(workspace) AND tp.left_at IS NULL AND t.last_seq > tp.cursor_seq
                       AND p.runtime_kind <> 'human' AND (p.runtime_managed OR t.autonomous)
                ), unread AS (
                    SELECT e.handle, e.thread_id, e.last_activity, max(m.seq) AS seq, min(m.created_at) AS oldest
                      FROM eligible e
                      JOIN messages m ON m.thread_id = e.thread_id AND m.seq > e.cursor_seq
                     WHERE e.handle = ANY (m.to_handles) AND m.author <> e.handle
                     GROUP BY e.handle, e.thread_id, e.last_activity
                ), due AS (
                    SELECT DISTINCT ON (u.handle) u.handle, u.thread_id, u.seq
                      FROM unread u
                     WHERE NOT EXISTS (
                         SELECT 1 FROM wake_requests w
                          WHERE w.workspace_id = \(workspace) AND w.target = u.handle AND w.thread_id = u.thread_id
                            AND w.trigger_seq >= u.seq
                            AND NOT (w.state = 'already_active' AND w.finished_at < \(quietSince)
                                     AND (u.last_activity IS NULL OR u.last_activity < \(quietSince))))
                     ORDER BY u.handle, u.oldest
                ), created AS (
                    INSERT INTO wake_requests (id, workspace_id, target, thread_id, trigger_seq, requested_by, next_attempt_at,
                                               created_at, updated_at)
                    SELECT gen_random_uuid(), \(workspace), d.handle, d.thread_id, d.seq, 'supervisor', \(now), \(now), \(now) FROM due d
                    ON CONFLICT (workspace_id, target) WHERE state IN \(unescaped: Self.openWakeStates) DO NOTHING
                    RETURNING id, target, thread_id, trigger_seq
                ), audited AS (
                    INSERT INTO audit_events (workspace_id, actor, action, target, after, request_id)
                    SELECT \(workspace), \(context.identity.auditActor), 'wake.request', 'participant:' || c.target,
                           jsonb_build_object('wake_id', c.id, 'thread_id', c.thread_id, 'trigger_seq', c.trigger_seq), \(context.requestID)
                      FROM created c
                )
                SELECT count(*)::int FROM created
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// The open requests with something to decide: due pending or deferred ones, and every triggered one.
    public func openWakes(now: Date, limit: Int = 200, workspace: String) async throws(BridgeError) -> [OpenWake] {
        try await withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT w.id, w.target, w.thread_id, w.trigger_seq, w.state, w.action, w.resume_failures, w.spawn_failures,
                       w.deferred_since, w.triggered_at, w.version,
                       coalesce(p.last_seen_at >= w.triggered_db_at, false) AS acknowledged,
                       a.outcome AS attempt_outcome, coalesce(a.attempt, 0) AS attempt_count,
                       p.runtime_kind, p.runtime_managed, p.session_id, p.workdir, p.presence,
                       greatest(p.last_heartbeat_at, p.last_seen_at) AS last_activity_at, p.last_human_input_at,
                       t.autonomous, coalesce(tp.cursor_seq, 0) AS cursor_seq, w.reason,
                       EXISTS (SELECT 1 FROM session_leases l
                                WHERE l.workspace_id = w.workspace_id AND l.handle = w.target AND l.expires_at > now()) AS live_session,
                       p.role
                  FROM wake_requests w
                  JOIN participants p ON p.workspace_id = w.workspace_id AND p.handle = w.target
                  JOIN threads t ON t.id = w.thread_id
                  LEFT JOIN thread_participants tp ON tp.thread_id = w.thread_id AND tp.handle = w.target AND tp.left_at IS NULL
                  LEFT JOIN LATERAL (
                      SELECT attempt, outcome FROM wake_attempts WHERE request_id = w.id ORDER BY attempt DESC LIMIT 1
                  ) a ON true
                 WHERE w.workspace_id = \(workspace) AND w.state IN \(unescaped: Self.openWakeStates)
                   AND (w.state = 'triggered' OR w.next_attempt_at <= \(now))
                 ORDER BY w.next_attempt_at, w.id
                 LIMIT \(limit)
                """,
                logger: self.logger
            )
            var wakes: [OpenWake] = []
            for try await row in rows { wakes.append(try OpenWakeRow(row).wake) }
            return wakes
        }
    }

    // MARK: - Applying decisions

    /// Applies a planner step other than `.start` to the version of the request it was decided on.
    /// Returns false when another supervisor changed the request first (the step is then moot).
    @discardableResult
    public func applyWakeStep(_ step: WakeStep, to wake: OpenWake, now: Date, context: CallContext) async throws(BridgeError) -> Bool {
        let id = wake.id
        let failedAction = wake.facts.action.rawValue
        return try await withTransaction { connection in
            let changed: Bool
            var auditAction: String?
            var reason: Reason?
            var givesUpOnAttempt = false
            switch step {
            case .wait, .start:
                return false
            case .finish(let state, let finishReason):
                let countsFailure = state == .dead
                changed = try await Self.updateWake(
                    connection,
                    id: id,
                    version: wake.version,
                    logger: self.logger,
                    """
                    state = \(state.rawValue), reason = \(finishReason.rawValue), finished_at = \(now),
                    resume_failures = resume_failures + CASE WHEN \(countsFailure) AND action = 'resume' THEN 1 ELSE 0 END,
                    spawn_failures = spawn_failures + CASE WHEN \(countsFailure) AND action = 'spawn' THEN 1 ELSE 0 END
                    """,
                    now: now
                )
                auditAction = "wake.\(state.rawValue)"
                reason = finishReason
                givesUpOnAttempt = countsFailure
            case .deferUntil(let at, let since, let deferReason):
                changed = try await Self.updateWake(
                    connection,
                    id: id,
                    version: wake.version,
                    logger: self.logger,
                    """
                    state = 'deferred', reason = \(deferReason.rawValue), deferred_since = \(since), next_attempt_at = \(at)
                    """,
                    now: now
                )
                // Log entering the deferral (or a change of its cause), not every re-check.
                if wake.facts.state != .deferred || wake.deferReason != deferReason {
                    auditAction = "wake.deferred"
                    reason = deferReason
                }
            case .retry(let next, let at, let retryReason):
                changed = try await Self.updateWake(
                    connection,
                    id: id,
                    version: wake.version,
                    logger: self.logger,
                    """
                    state = 'pending', action = \(next.rawValue), reason = \(retryReason.rawValue), next_attempt_at = \(at),
                    resume_failures = resume_failures + CASE WHEN action = 'resume' THEN 1 ELSE 0 END,
                    spawn_failures = spawn_failures + CASE WHEN action = 'spawn' THEN 1 ELSE 0 END,
                    triggered_at = NULL, triggered_db_at = NULL
                    """,
                    now: now
                )
                auditAction = "wake.retry"
                reason = retryReason
                givesUpOnAttempt = true
            }
            guard changed else { return false }
            if givesUpOnAttempt {
                // An attempt still running when its request is retried or given up is stopped by this decision.
                try await connection.query(
                    """
                    UPDATE wake_attempts SET outcome = 'stopped', finished_at = \(now)
                     WHERE request_id = \(id) AND outcome = 'running'
                    """,
                    logger: self.logger
                )
            }
            if let auditAction {
                try await Self.audit(
                    connection,
                    context: context,
                    action: auditAction,
                    target: "participant:\(wake.target)",
                    after: [
                        "wake_id": .string(id.wireString), "failed_action": .string(failedAction),
                        "thread_id": .string(wake.threadID.wireString),
                    ],
                    reason: reason?.rawValue,
                    logger: self.logger
                )
            }
            return true
        }
    }

    /// Claims the next attempt of a due request for this supervisor and records it as running.
    /// Returns nil when another supervisor changed the request first: exactly one supervisor starts each attempt.
    public func claimWakeAttempt(
        _ wake: OpenWake,
        action: WakeAction,
        argv: [String],
        now: Date,
        context: CallContext
    ) async throws(BridgeError) -> ClaimedAttempt? {
        let id = wake.id
        let attempt = wake.attemptCount + 1
        return try await withTransaction { connection in
            guard
                try await Self.updateWake(
                    connection,
                    id: id,
                    version: wake.version,
                    logger: self.logger,
                    """
                    state = 'triggered', action = \(action.rawValue), reason = NULL, triggered_at = \(now), triggered_db_at = clock_timestamp()
                    """,
                    now: now
                )
            else { return nil }
            try await connection.query(
                """
                INSERT INTO wake_attempts (request_id, attempt, action, supervisor, argv, started_at)
                VALUES (\(id), \(attempt), \(action.rawValue), \(context.identity.handle), \(argv), \(now))
                """,
                logger: self.logger
            )
            try await Self.audit(
                connection,
                context: context,
                action: "wake.triggered",
                target: "participant:\(wake.target)",
                after: [
                    "wake_id": .string(id.wireString), "attempt": .integer(Int64(attempt)),
                    "action": .string(action.rawValue), "thread_id": .string(wake.threadID.wireString),
                ],
                logger: self.logger
            )
            return ClaimedAttempt(requestID: id, attempt: attempt, action: action)
        }
    }

    /// Records how an attempt's process ended. A spawn that reported a session id makes it the target's
    /// session, so the next wake resumes it (usually ``recordSpawnedSession(_:target:sessionID:context:)`` did
    /// so already, while the process ran).
    public func finishWakeAttempt(
        _ claimed: ClaimedAttempt,
        target: String,
        outcome: WakeAttempt.Outcome,
        exitCode: Int?,
        sessionID: String?,
        outputTail: String,
        now: Date,
        context: CallContext
    ) async throws(BridgeError) {
        _ = try await withTransaction { connection in
            try await connection.query(
                """
                UPDATE wake_attempts
                   SET outcome = CASE WHEN outcome = 'running' THEN \(outcome.rawValue) ELSE outcome END,
                       finished_at = coalesce(finished_at, \(now)), exit_code = \(exitCode),
                       session_id = coalesce(\(sessionID), session_id), output_tail = \(outputTail)
                 WHERE request_id = \(claimed.requestID) AND attempt = \(claimed.attempt)
                """,
                logger: self.logger
            )
            if let sessionID {
                try await Self.adoptSpawnedSession(connection, claimed, target: target, sessionID: sessionID, context: context, logger: self.logger)
            }
            return true
        }
    }

    /// `UPDATE wake_requests SET <assignments>` on the given version; true when it applied.
    static func updateWake(
        _ connection: PostgresConnection,
        id: UUID,
        version: Int,
        logger: Logger,
        _ assignments: PostgresQuery,
        now: Date
    ) async throws -> Bool {
        var query = PostgresQuery(unsafeSQL: "UPDATE wake_requests SET ")
        query.sql += assignments.sql
        query.binds = assignments.binds
        let base = query.binds.count
        query.sql += ", version = version + 1, updated_at = $\(base + 1) WHERE id = $\(base + 2) AND version = $\(base + 3) RETURNING 1"
        query.binds.append(now)
        query.binds.append(id)
        query.binds.append(version)
        for try await _ in try await connection.query(query, logger: logger) { return true }
        return false
    }

    // MARK: - v1_wake_trigger and v1_wake_status

    /// Asks for `target` to be woken for `threadID` now. The target must be a current member. When a wake
    /// for the target is already open, that one is returned (`created` false): one wake in flight per participant.
    public func requestWake(
        target: String,
        threadID: UUID,
        context: CallContext,
        idempotency: IdempotencyScope?,
        authorize: @escaping @Sendable (ThreadFacts) throws(BridgeError) -> Void
    ) async throws(BridgeError) -> (WakeRequest, created: Bool, deduplicated: Bool) {
        let identity = context.identity
        let (outcome, deduplicated) = try await idempotentTransaction(idempotency, context: context) { connection -> WakeTriggerOutcome in
            try authorize(try await self.lockedThreadFacts(threadID, on: connection, identity: identity))
            let memberRows = try await connection.query(
                """
                SELECT t.last_seq FROM thread_participants p JOIN threads t ON t.id = p.thread_id
                 WHERE p.thread_id = \(threadID) AND p.handle = \(target) AND p.left_at IS NULL
                """,
                logger: self.logger
            )
            var lastSeq: Int64?
            for try await seq in memberRows.decode(Int64.self) { lastSeq = seq }
            guard let lastSeq else {
                throw BridgeError(.invalidArgument, .unknownRecipient, "\(target) is not a member of this thread.", details: ["participant": target])
            }
            let id = UUID()
            let inserted = try await connection.query(
                """
                INSERT INTO wake_requests (id, workspace_id, target, thread_id, trigger_seq, requested_by, next_attempt_at, created_at, updated_at)
                VALUES (\(id), \(identity.workspace), \(target), \(threadID), \(lastSeq), \(identity.auditActor), now(), now(), now())
                ON CONFLICT (workspace_id, target) WHERE state IN \(unescaped: Self.openWakeStates) DO NOTHING
                RETURNING id
                """,
                logger: self.logger
            )
            var created = false
            for try await _ in inserted { created = true }
            let wakeID: UUID
            if created {
                wakeID = id
                try await Self.audit(
                    connection,
                    context: context,
                    action: "wake.request",
                    target: "participant:\(target)",
                    after: [
                        "wake_id": .string(id.wireString), "thread_id": .string(threadID.wireString),
                        "trigger_seq": .integer(lastSeq),
                    ],
                    logger: self.logger
                )
                // The supervisor listens on the post channel; a trigger is work for it like a post, notified after COMMIT.
                if let posted = PostedThreads.current, self.notifier.mode != .inStatement {
                    posted.insert(threadID)
                } else {
                    try await connection.query("SELECT pg_notify(\(Self.messageChannel), \(threadID.wireString))", logger: self.logger)
                }
            } else {
                let open = try await connection.query(
                    """
                    SELECT id FROM wake_requests WHERE workspace_id = \(identity.workspace) AND target = \(target)
                       AND state IN \(unescaped: Self.openWakeStates)
                    """,
                    logger: self.logger
                )
                var found: UUID?
                for try await openID in open.decode(UUID.self) { found = openID }
                guard let found else { throw BridgeError(.aborted, .transactionConflict, "The open wake request changed; retry.") }
                wakeID = found
            }
            return WakeTriggerOutcome(id: wakeID, created: created)
        }
        let wakes = try await wakeRequests(ids: [outcome.id], workspace: identity.workspace)
        guard let wake = wakes.first else { throw BridgeError(.internal, .internalError, "The wake request vanished.") }
        return (wake, outcome.created, deduplicated)
    }

    /// Wake requests newest first, for one participant and/or one thread.
    public func wakeRequests(target: String?, threadID: UUID?, limit: Int, workspace: String) async throws(BridgeError) -> [WakeRequest] {
        let ids = try await withConnection { connection -> [UUID] in
            let rows = try await connection.query(
                """
                SELECT id FROM wake_requests
                 WHERE workspace_id = \(workspace) AND (\(target)::text IS NULL OR target = \(target))
                   AND (\(threadID)::uuid IS NULL OR thread_id = \(threadID))
                 ORDER BY created_at DESC, id LIMIT \(limit)
                """,
                logger: self.logger
            )
            var ids: [UUID] = []
            for try await id in rows.decode(UUID.self) { ids.append(id) }
            return ids
        }
        return try await wakeRequests(ids: ids, workspace: workspace)
    }

    /// The requests with these ids, in the order given, each with its attempts.
    func wakeRequests(ids: [UUID], workspace: String) async throws(BridgeError) -> [WakeRequest] {
        guard !ids.isEmpty else { return [] }
        return try await withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT id, target, thread_id, trigger_seq, state, reason, requested_by, action, resume_failures, spawn_failures,
                       next_attempt_at, deferred_since, triggered_at, finished_at, created_at, updated_at
                  FROM wake_requests WHERE workspace_id = \(workspace) AND id = ANY (\(ids))
                """,
                logger: self.logger
            )
            var byID: [UUID: WakeRequest] = [:]
            for try await row in rows {
                let request = try WakeRequestRow(row).request
                byID[request.id] = request
            }
            let attemptRows = try await connection.query(
                """
                SELECT request_id, attempt, action, supervisor, started_at, finished_at, exit_code, outcome, session_id, output_tail
                  FROM wake_attempts WHERE request_id = ANY (\(ids)) ORDER BY request_id, attempt
                """,
                logger: self.logger
            )
            for try await row in attemptRows {
                let attempt = try WakeAttemptRow(row)
                byID[attempt.requestID]?.attempts.append(attempt.attempt)
            }
            return ids.compactMap { byID[$0] }
        }
    }
}

/// What `requestWake`'s transaction settled on; stored for idempotent replays.
struct WakeTriggerOutcome: Codable, Sendable {
    var id: UUID
    var created: Bool
}

/// An open wake request with the facts the planner decides on, as ``PostgresStore/openWakes(now:limit:workspace:)`` selects it.
struct OpenWakeRow: StoreRow {
    let wake: OpenWake

    init(_ cells: PostgresRandomAccessRow) throws {
        let triggerSeq: Int64 = try cells.value("trigger_seq")
        let cursor: Int64 = try cells.value("cursor_seq")
        let facts = WakeFacts(
            requestID: try cells.value("id"),
            state: WakeState(rawValue: try cells.value("state")) ?? .pending,
            action: WakeAction(rawValue: try cells.value("action")) ?? .resume,
            resumeFailures: try cells.value("resume_failures"),
            spawnFailures: try cells.value("spawn_failures"),
            deferredSince: try cells.value("deferred_since"),
            triggeredAt: try cells.value("triggered_at"),
            attemptOutcome: try cells.value("attempt_outcome", as: String?.self).flatMap(WakeAttempt.Outcome.init(rawValue:)),
            acknowledged: try cells.value("acknowledged"),
            runtime: try RuntimeDescriptor(columnsOf: cells),
            presence: Presence(rawValue: try cells.value("presence")) ?? .active,
            lastActivityAt: try cells.value("last_activity_at"),
            lastHumanInputAt: try cells.value("last_human_input_at"),
            threadAutonomous: try cells.value("autonomous"),
            caughtUp: cursor >= triggerSeq,
            liveSession: try cells.value("live_session")
        )
        var wake = OpenWake(
            facts: facts,
            version: try cells.value("version"),
            target: try cells.value("target"),
            threadID: try cells.value("thread_id"),
            triggerSeq: triggerSeq,
            cursorSeq: cursor,
            attemptCount: try cells.value("attempt_count"),
            role: Role(rawValue: try cells.value("role")) ?? .observer
        )
        if facts.state == .deferred {
            wake.deferReason = try cells.value("reason", as: String?.self).flatMap(Reason.init(rawValue:))
        }
        self.wake = wake
    }
}

/// A `wake_requests` row, without its attempts.
struct WakeRequestRow: StoreRow {
    let request: WakeRequest

    init(_ cells: PostgresRandomAccessRow) throws {
        request = WakeRequest(
            id: try cells.value("id"),
            target: try cells.value("target"),
            threadID: try cells.value("thread_id"),
            triggerSeq: try cells.value("trigger_seq"),
            state: WakeState(rawValue: try cells.value("state")) ?? .pending,
            reason: try cells.value("reason"),
            requestedBy: try cells.value("requested_by"),
            action: WakeAction(rawValue: try cells.value("action")) ?? .resume,
            resumeFailures: try cells.value("resume_failures"),
            spawnFailures: try cells.value("spawn_failures"),
            nextAttemptAt: try cells.value("next_attempt_at"),
            deferredSince: try cells.value("deferred_since"),
            triggeredAt: try cells.value("triggered_at"),
            finishedAt: try cells.value("finished_at"),
            createdAt: try cells.value("created_at"),
            updatedAt: try cells.value("updated_at"),
            attempts: []
        )
    }
}

/// A `wake_attempts` row and the request it belongs to.
struct WakeAttemptRow: StoreRow {
    let requestID: UUID
    let attempt: WakeAttempt

    init(_ cells: PostgresRandomAccessRow) throws {
        requestID = try cells.value("request_id")
        attempt = WakeAttempt(
            attempt: try cells.value("attempt"),
            action: WakeAction(rawValue: try cells.value("action")) ?? .resume,
            supervisor: try cells.value("supervisor"),
            startedAt: try cells.value("started_at"),
            finishedAt: try cells.value("finished_at"),
            exitCode: try cells.value("exit_code"),
            outcome: WakeAttempt.Outcome(rawValue: try cells.value("outcome")) ?? .running,
            sessionID: try cells.value("session_id"),
            outputTail: try cells.value("output_tail")
        )
    }
}
