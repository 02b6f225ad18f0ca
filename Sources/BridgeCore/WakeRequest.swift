import Foundation

/// Where a wake request stands (ARCHITECTURE.md, Domain and Supervisor). `pending`, `deferred` and `triggered` are open; the rest are final.
public enum WakeState: String, Sendable, Codable, CaseIterable {
    /// Due to be acted on at `next_attempt_at`.
    case pending
    /// Held back because a human is typing at the target's terminal; re-checked every `deferred_recheck_interval`.
    case deferred
    /// A runtime process was started; waiting for the target's ack (any authenticated call).
    case triggered
    /// The resumed session called in.
    case acked
    /// The target was already active; nothing was started.
    case alreadyActive = "already_active"
    /// A fresh session was spawned and called in.
    case fallbackSpawned = "fallback_spawned"
    /// Never attempted: the target's runtime is not managed (`UNMANAGED_RUNTIME_TARGET`); left to its own polling.
    case failed
    /// The human kept typing past `max_defer_window`; left to the target's own polling.
    case deferredTimeout = "deferred_timeout"
    /// Every retry failed: the dead-letter set.
    case dead

    /// The states in which a request still has work to do. One open request per participant at a time.
    public static let open: [WakeState] = [.pending, .deferred, .triggered]

    public var isOpen: Bool { Self.open.contains(self) }
}

/// What a wake attempt does to the target's runtime.
public enum WakeAction: String, Sendable, Codable {
    /// Resume the recorded session (`codex exec resume …`, `claude -p --resume …`).
    case resume
    /// Start a fresh session and record its new session id.
    case spawn
}

/// One runtime process started for a wake request.
public struct WakeAttempt: Sendable, Codable, Hashable {
    /// How an attempt ended, as far as the supervisor knows.
    public enum Outcome: String, Sendable, Codable {
        /// The process is (or was last seen) running.
        case running
        /// The process exited 0.
        case exited
        /// The process exited non-zero or was killed by a signal.
        case failed
        /// The process could not be started (executable missing, workdir missing).
        case notStarted = "not_started"
        /// The supervisor stopped it: no ack within `trigger_ack_timeout`, the runtime's timeout, or shutdown.
        case stopped
    }

    public var attempt: Int
    public var action: WakeAction
    public var supervisor: String
    public var startedAt: Date
    public var finishedAt: Date?
    public var exitCode: Int?
    public var outcome: Outcome
    /// The session id the runtime reported (a spawn's new session).
    public var sessionID: String?
    /// The last few KiB of the process's stdout and stderr; operators see it, agents do not.
    public var outputTail: String?

    public init(
        attempt: Int,
        action: WakeAction,
        supervisor: String,
        startedAt: Date,
        finishedAt: Date?,
        exitCode: Int?,
        outcome: Outcome,
        sessionID: String?,
        outputTail: String?
    ) {
        self.attempt = attempt
        self.action = action
        self.supervisor = supervisor
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.outcome = outcome
        self.sessionID = sessionID
        self.outputTail = outputTail
    }

    enum CodingKeys: String, CodingKey {
        case attempt, action, supervisor, outcome
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case exitCode = "exit_code"
        case sessionID = "session_id"
        case outputTail = "output_tail"
    }
}

/// A request to wake one participant for unread directed messages in one thread.
public struct WakeRequest: Sendable, Codable, Hashable {
    public var id: UUID
    public var target: String
    public var threadID: UUID
    /// The highest directed seq the target had not read when the request was made.
    public var triggerSeq: Int64
    public var state: WakeState
    /// The reason code of the latest step (e.g. `UNMANAGED_RUNTIME_TARGET`, `WAKE_NOT_ACKNOWLEDGED`).
    public var reason: String?
    /// `supervisor` for work found from state, `participant:HANDLE` for `v1_wake_trigger`.
    public var requestedBy: String
    /// What the next (or current) attempt does.
    public var action: WakeAction
    public var resumeFailures: Int
    public var spawnFailures: Int
    public var nextAttemptAt: Date
    public var deferredSince: Date?
    public var triggeredAt: Date?
    public var finishedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var attempts: [WakeAttempt]

    public init(
        id: UUID,
        target: String,
        threadID: UUID,
        triggerSeq: Int64,
        state: WakeState,
        reason: String?,
        requestedBy: String,
        action: WakeAction,
        resumeFailures: Int,
        spawnFailures: Int,
        nextAttemptAt: Date,
        deferredSince: Date?,
        triggeredAt: Date?,
        finishedAt: Date?,
        createdAt: Date,
        updatedAt: Date,
        attempts: [WakeAttempt]
    ) {
        self.id = id
        self.target = target
        self.threadID = threadID
        self.triggerSeq = triggerSeq
        self.state = state
        self.reason = reason
        self.requestedBy = requestedBy
        self.action = action
        self.resumeFailures = resumeFailures
        self.spawnFailures = spawnFailures
        self.nextAttemptAt = nextAttemptAt
        self.deferredSince = deferredSince
        self.triggeredAt = triggeredAt
        self.finishedAt = finishedAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.attempts = attempts
    }

    enum CodingKeys: String, CodingKey {
        case id, target, state, reason, action, attempts
        case threadID = "thread_id"
        case triggerSeq = "trigger_seq"
        case requestedBy = "requested_by"
        case resumeFailures = "resume_failures"
        case spawnFailures = "spawn_failures"
        case nextAttemptAt = "next_attempt_at"
        case deferredSince = "deferred_since"
        case triggeredAt = "triggered_at"
        case finishedAt = "finished_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}
