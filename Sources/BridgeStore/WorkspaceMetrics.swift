import BridgeCore
import Foundation

/// The figures `/metrics` and `agent-bridge status` derive from the database for one workspace (ARCHITECTURE.md, Observability).
///
/// Totals (messages, escalations, wake results, API requests) only grow; the others are current values.
public struct WorkspaceMetrics: Sendable, Codable, Hashable {
    /// API calls persisted by `serve` processes for one tool and result code.
    public struct APIRequests: Sendable, Codable, Hashable {
        public var tool: String
        /// `OK` or the error code.
        public var code: String
        public var count: Int64
        public var durationSeconds: Double

        enum CodingKeys: String, CodingKey {
            case tool, code, count
            case durationSeconds = "duration_seconds"
        }
    }

    /// Messages in the workspace by kind, every kind present (0 included).
    public var messagesByKind: [String: Int64] = [:]
    /// Threads by status, every status present.
    public var threadsByStatus: [String: Int64] = [:]
    /// `thread.escalate` audit events: by agents, operators and the loop guards.
    public var escalations: Int64 = 0
    /// Loop-guard blocks by reason (`NO_PROGRESS_LIMIT`, `REPEATED_FINDING`), both present.
    public var loopGuardTrips: [String: Int64] = [:]
    /// Wake outcomes by result: `triggered` (attempts started), `deferred` (requests that entered a deferral),
    /// and the requests that ended `already_active`, `acked`, `fallback_spawned`, `failed`, `deferred_timeout`
    /// or `dead`. Every result present.
    public var wakeResults: [String: Int64] = [:]
    /// Wake requests that ended `failed`, `dead` or `deferred_timeout`, by reason code; the planner's three
    /// (`UNMANAGED_RUNTIME_TARGET`, `DEFER_WINDOW_EXCEEDED`, `WAKE_RETRIES_EXHAUSTED`) always present.
    public var deliveryFailures: [String: Int64] = [:]
    /// Wake requests still open: `pending`, `deferred` or `triggered`.
    public var openWakes: Int64 = 0
    /// Approval tickets by stored state, every state present.
    public var ticketsByState: [String: Int64] = [:]
    /// Pending tickets that were escalated and still wait for a decision.
    public var ticketsEscalatedPending: Int64 = 0
    /// API calls by tool and code, since the stats began.
    public var apiRequests: [APIRequests] = []
    /// Quantiles of `v1_message_read` and `v1_inbox` durations over the current and previous hour: the upper bound
    /// of the histogram bucket holding each. Nil without reads. Long polls count their wait.
    public var readLatencyP50: Double?
    public var readLatencyP95: Double?
    /// (participant, message) pairs where a current member has not read a message directed to it or broadcast.
    public var unreadMessages: Int64 = 0
    /// Age in seconds of the oldest such unread message; 0 when there is none.
    public var oldestUnreadSeconds: Double = 0
    /// Quantiles of first-attempt wake start latency over the last hour: attempt start minus the triggering
    /// message's creation. Requests that were ever deferred are left out: their wait was chosen (a human was
    /// typing, the session was live), not a delay of the supervisor's. Nil without attempts.
    public var wakeStartLatencyP50: Double?
    public var wakeStartLatencyP95: Double?
    /// The backend pid of the supervisor that holds this workspace's leader lock, if one does.
    public var leaderBackendPID: Int32?

    public init() {}

    /// Whether a supervisor leads the workspace now (holds its advisory lock).
    public var supervisorLeading: Bool { leaderBackendPID != nil }

    enum CodingKeys: String, CodingKey {
        case escalations
        case messagesByKind = "messages_by_kind"
        case threadsByStatus = "threads_by_status"
        case loopGuardTrips = "loop_guard_trips"
        case wakeResults = "wake_results"
        case deliveryFailures = "delivery_failures"
        case openWakes = "open_wakes"
        case ticketsByState = "tickets_by_state"
        case ticketsEscalatedPending = "tickets_escalated_pending"
        case apiRequests = "api_requests"
        case readLatencyP50 = "read_latency_p50_seconds"
        case readLatencyP95 = "read_latency_p95_seconds"
        case unreadMessages = "unread_messages"
        case oldestUnreadSeconds = "oldest_unread_seconds"
        case wakeStartLatencyP50 = "wake_start_latency_p50_seconds"
        case wakeStartLatencyP95 = "wake_start_latency_p95_seconds"
        case leaderBackendPID = "leader_backend_pid"
    }

    /// The wake results `wakeResults` always has.
    public static let wakeResultNames = [
        "triggered", "already_active", "acked", "fallback_spawned", "failed", "deferred", "deferred_timeout", "dead",
    ]
}
