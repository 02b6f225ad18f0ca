import BridgeCore
import BridgeStore
import Foundation
import Prometheus
import Synchronization

/// Reads health and the observability figures of one workspace, and renders them as Prometheus text.
///
/// Usable without HTTP: `/metrics` and `/ready` of `supervise` call it, and so do `agent-bridge status` (without
/// a supervisor) and in-process drills (with one). Every read is bounded by `timeout`: with the database down it
/// answers quickly, with `agent_bridge_database_up 0` and only the in-process figures.
///
/// Totals that only grow in the database are exposed as counters: each render adds what the total grew by
/// since the previous render of this exporter (a total that shrank, a new database, adds nothing).
public final class MetricsExporter: Sendable {
    /// What to read and how long to wait for it.
    public struct Configuration: Sendable {
        /// The workspace whose figures are read.
        public var workspace: String
        /// The longest a probe or scrape waits for the database.
        public var timeout: Duration = .seconds(2)
        /// The clock wake attempts are stamped with (the supervisor's), for the last-hour latency window.
        public var clock: any WallClock = SystemWallClock()

        public init(workspace: String) {
            self.workspace = workspace
        }
    }

    /// What one probe found: health, and the figures when the database answered with a current schema.
    public struct Observation: Sendable {
        public var health: HealthReport
        public var metrics: WorkspaceMetrics?
    }

    public let configuration: Configuration
    /// The registry holding this exporter's counters and process gauges; other collectors may be added to it.
    public let registry: PrometheusCollectorRegistry
    let store: PostgresStore
    let supervisor: Supervisor?
    /// The last total each counter was advanced to, by counter name and labels.
    private let totals = Mutex<[String: Double]>([:])

    /// An exporter for a running supervisor: its store, workspace and clock, and its leader and listener state.
    public convenience init(supervisor: Supervisor, timeout: Duration = .seconds(2), registry: PrometheusCollectorRegistry = .init()) {
        var configuration = Configuration(workspace: supervisor.configuration.workspace)
        configuration.timeout = timeout
        configuration.clock = supervisor.configuration.clock
        self.init(store: supervisor.database, configuration: configuration, supervisor: supervisor, registry: registry)
    }

    /// An exporter on a store; without a supervisor, leadership is read from `pg_locks` and the listener is unknown.
    public init(store: PostgresStore, configuration: Configuration, supervisor: Supervisor? = nil, registry: PrometheusCollectorRegistry = .init()) {
        self.store = store
        self.configuration = configuration
        self.supervisor = supervisor
        self.registry = registry
    }

    /// Whether the deployment is ready: what `/ready` answers.
    public func health() async -> HealthReport {
        await observe(includeFigures: false).health
    }

    /// Health and the workspace's figures, read once.
    public func observe() async -> Observation {
        await observe(includeFigures: true)
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    public func prometheusText() async -> String {
        let observation = await observe(includeFigures: true)
        updateProcessMetrics(observation.health)
        var text = ""
        if let metrics = observation.metrics {
            advanceCounters(metrics)
            text = Self.gauges(metrics).emitToString()
        }
        return registry.emitToString() + text
    }

    // MARK: - Probing

    private struct Probe: Sendable {
        var schemaVersion: Int
        var metrics: WorkspaceMetrics?
    }

    private func observe(includeFigures: Bool) async -> Observation {
        let store = self.store
        let workspace = configuration.workspace
        let since = configuration.clock.now().addingTimeInterval(-3600)
        let probe: Probe? = await withDeadline(configuration.timeout) {
            let version = try await store.schemaVersion()
            guard includeFigures || self.supervisor == nil, version >= Migrator.latestVersion else {
                return Probe(schemaVersion: version)
            }
            // Leadership outside a supervisor comes from pg_locks, which the figures' query reads.
            let metrics = try? await store.workspaceMetrics(workspace: workspace, attemptsSince: since, now: self.configuration.clock.now())
            return Probe(schemaVersion: version, metrics: metrics)
        }
        let health = HealthReport(
            databaseReachable: probe != nil,
            schemaVersion: probe?.schemaVersion,
            requiredSchemaVersion: Migrator.latestVersion,
            listener: listenerState(),
            leader: supervisor?.isLeader,
            supervisorLeading: supervisor?.isLeader == true ? true : probe?.metrics?.supervisorLeading
        )
        return Observation(health: health, metrics: probe?.metrics)
    }

    private func listenerState() -> HealthReport.Listener {
        guard let supervisor else { return .unknown }
        guard supervisor.configuration.listen else { return .off }
        if supervisor.isLeader { return supervisor.isListening ? .connected : .disconnected }
        return supervisor.lockBackendPID != nil ? .standby : .disconnected
    }

    /// Runs `body` for at most `timeout`; nil when it failed or ran out of time.
    private func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { try? await body() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    // MARK: - Rendering

    private func updateProcessMetrics(_ health: HealthReport) {
        func flag(_ name: String, _ value: Bool, _ help: String) {
            registry.gauge(name, help).set(value ? 1.0 : 0.0)
        }
        flag("agent_bridge_database_up", health.databaseReachable, "1 when the database answered the last scrape within its timeout.")
        flag(
            "agent_bridge_schema_current",
            health.databaseReachable && health.schemaCurrent,
            "1 when the database schema is at least the version this build needs."
        )
        flag(
            "agent_bridge_listener_connected",
            health.listener == .connected,
            "1 when this supervisor leads and its LISTEN connection for post notifications is up."
        )
        flag(
            "agent_bridge_supervisor_leader",
            health.leader ?? health.supervisorLeading ?? false,
            "1 when this supervisor holds the workspace's leader lock (outside a supervisor: when any does)."
        )
        guard let supervisor else { return }
        let failed = supervisor.ticksFailed
        let help = "Supervisor ticks run by this process as leader, by result."
        advance(
            registry.counter("agent_bridge_supervisor_ticks_total", help, [("result", "completed")]),
            key: "ticks|completed",
            to: Double(supervisor.ticksCompleted - failed)
        )
        advance(
            registry.counter("agent_bridge_supervisor_ticks_total", help, [("result", "failed")]),
            key: "ticks|failed",
            to: Double(failed)
        )
    }

    private func advanceCounters(_ metrics: WorkspaceMetrics) {
        func count(_ name: String, _ help: String, _ labels: [(String, String)], _ total: Int64) {
            let key = ([name] + labels.map { "\($0.0)=\($0.1)" }).joined(separator: "|")
            advance(registry.counter(name, help, labels), key: key, to: Double(total))
        }
        for (kind, total) in metrics.messagesByKind {
            count("agent_bridge_messages_posted_total", "Messages posted in the workspace, by kind.", [("kind", kind)], total)
        }
        for (reason, total) in metrics.deliveryFailures {
            count(
                "agent_bridge_delivery_failures_total",
                "Wake requests that ended failed, dead or deferred_timeout, by reason code.",
                [("reason", reason)],
                total
            )
        }
        count(
            "agent_bridge_escalations_total",
            "Threads escalated to blocked (thread.escalate audit events), loop guards included.",
            [],
            metrics.escalations
        )
        for (reason, total) in metrics.loopGuardTrips {
            count("agent_bridge_loop_guard_trips_total", "Threads blocked by a loop guard, by reason.", [("reason", reason)], total)
        }
        for (result, total) in metrics.wakeResults {
            count(
                "agent_bridge_wake_attempts_total",
                "Wakes by result: triggered counts attempts started, deferred requests that entered a deferral, the rest requests that ended so.",
                [("result", result)],
                total
            )
        }
        for requests in metrics.apiRequests {
            let labels = [("tool", requests.tool), ("code", requests.code)]
            count("agent_bridge_api_requests_total", "MCP tool calls persisted by serve processes, by tool and result code.", labels, requests.count)
            let key = "agent_bridge_api_request_duration_seconds_total|\(requests.tool)|\(requests.code)"
            advance(
                registry.counter(
                    "agent_bridge_api_request_duration_seconds_total",
                    "Total seconds spent in MCP tool calls persisted by serve processes, by tool and result code.",
                    labels
                ),
                key: key,
                to: requests.durationSeconds
            )
        }
    }

    /// Adds to `counter` what `total` grew by since the last render.
    private func advance(_ counter: Counter, key: String, to total: Double) {
        totals.withLock { totals in
            let last = totals[key] ?? 0
            if total > last {
                let delta = total - last
                if delta == delta.rounded() && delta < 9e15 { counter.increment(by: Int64(delta)) } else { counter.increment(by: delta) }
            }
            totals[key] = total
        }
    }

    /// The current values, rendered afresh each time so that a scrape without the database shows none of them stale.
    private static func gauges(_ metrics: WorkspaceMetrics) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        let readHelp =
            "Quantiles of v1_message_read and v1_inbox call durations (long polls include their wait) over the current "
            + "and previous hour: the upper bound of the histogram bucket holding the quantile (60 for slower); 0 without reads."
        registry.gauge("agent_bridge_read_latency_seconds", readHelp, [("quantile", "0.5")])
            .set(metrics.readLatencyP50 ?? 0)
        registry.gauge("agent_bridge_read_latency_seconds", readHelp, [("quantile", "0.95")])
            .set(metrics.readLatencyP95 ?? 0)
        for (status, count) in metrics.threadsByStatus.sorted(by: { $0.key < $1.key }) {
            registry.gauge("agent_bridge_threads", "Threads by status.", [("status", status)]).set(Double(count))
        }
        for (state, count) in metrics.ticketsByState.sorted(by: { $0.key < $1.key }) {
            registry.gauge(
                "agent_bridge_approval_tickets",
                "Approval tickets by stored state (a pending ticket past its TTL counts as pending until the sweep).",
                [("state", state)]
            )
            .set(Double(count))
        }
        registry.gauge("agent_bridge_approval_tickets_escalated", "Pending approval tickets that were escalated and still wait for a decision.")
            .set(Double(metrics.ticketsEscalatedPending))
        registry.gauge(
            "agent_bridge_unread_messages",
            "Unread (participant, message) pairs: messages directed to a current member, or broadcast, past its read cursor."
        )
        .set(Double(metrics.unreadMessages))
        registry.gauge("agent_bridge_oldest_unread_seconds", "Age of the oldest such unread message; 0 when none.")
            .set(metrics.oldestUnreadSeconds)
        let wakeHelp =
            "Quantiles of wake start latency over the last hour: first attempt start minus the triggering message's "
            + "creation, leaving out wakes deferred on purpose (human input, a live session); 0 without attempts."
        registry.gauge("agent_bridge_wake_start_latency_seconds", wakeHelp, [("quantile", "0.5")])
            .set(metrics.wakeStartLatencyP50 ?? 0)
        registry.gauge("agent_bridge_wake_start_latency_seconds", wakeHelp, [("quantile", "0.95")])
            .set(metrics.wakeStartLatencyP95 ?? 0)
        registry.gauge("agent_bridge_wake_requests_open", "Wake requests pending, deferred or triggered.")
            .set(Double(metrics.openWakes))
        return registry
    }
}

extension PrometheusCollectorRegistry {
    /// The counter of this name and labels, created on first use.
    fileprivate func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
        let descriptor = MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        return labels.isEmpty ? makeCounter(descriptor: descriptor) : makeCounter(descriptor: descriptor, labels: labels)
    }

    /// The gauge of this name and labels, created on first use.
    fileprivate func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
        let descriptor = MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        return labels.isEmpty ? makeGauge(descriptor: descriptor) : makeGauge(descriptor: descriptor, labels: labels)
    }
}
