import ArgumentParser
import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation

/// `agent-bridge status`: is the deployment healthy, and what is it doing — for a person or (`--json`) a script.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether agent-bridge is healthy (database, schema, a leading supervisor) and its key figures.",
        discussion: """
            Reads the same figures as the supervisor's /metrics, straight from the database, so it works with no \
            supervisor running. It changes nothing: it never starts the embedded cluster or migrates.

            Health:
              database     reachable within --timeout?
              schema       at the version this build needs? (else: agent-bridge migrate)
              supervisor   does a supervisor hold the workspace's leader lock? (pg_locks;
                           the leader's lock connection is also its LISTEN connection)

            Figures: threads by status; unread messages (directed to a member, or broadcast, past its cursor) and \
            the oldest one's age; wake requests by result; approval tickets pending and escalated; API calls by tool \
            with their error codes (persisted by serve processes); read latency p50/p95 (v1_message_read and \
            v1_inbox over the current and previous hour, as histogram bucket upper bounds).

            Exit status, the first that applies:
              3  the database is unreachable
              1  the schema is not current
              2  no supervisor leads the workspace (nobody wakes dormant agents)
              0  healthy

            Examples:
              agent-bridge status
              agent-bridge status --json | jq .health
              agent-bridge status --workspace team-a --database-url postgres://db.internal/bridge
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The workspace to report on. Default: $AGENT_BRIDGE_WORKSPACE, else local.")
    var workspace: String?

    @Flag(help: "Print one JSON object ({healthy, exit_code, workspace, health, metrics}) instead of text.")
    var json = false

    @Option(help: "Seconds to wait for the database before reporting it unreachable.")
    var timeout: Double = 5

    /// What `--json` prints.
    struct Report: Encodable {
        var healthy: Bool
        var exitCode: Int32
        var workspace: String
        var health: HealthReport
        var metrics: WorkspaceMetrics?

        enum CodingKeys: String, CodingKey {
            case healthy, workspace, health, metrics
            case exitCode = "exit_code"
        }
    }

    func run() async throws {
        let logger = database.bootstrapLogging(defaultLevel: .error)
        let setup: DatabaseSetup
        do {
            setup = try DatabaseSetup(options: database, logger: logger)
        } catch {
            exitWithError(error.message, code: 3)
        }
        let workspace = resolveWorkspace(workspace)
        var configuration = MetricsExporter.Configuration(workspace: workspace)
        configuration.timeout = .milliseconds(Int(max(0.1, timeout) * 1000))
        let observation: MetricsExporter.Observation
        do throws(BridgeError) {
            let configuration = configuration
            observation = try await withStore(setup.endpoint, logger: logger) { store async throws(BridgeError) in
                await MetricsExporter(store: store, configuration: configuration).observe()
            }
        } catch {
            exitWithError(error.message, code: 3)
        }
        let health = observation.health
        let exitCode: Int32 = !health.databaseReachable ? 3 : !health.schemaCurrent ? 1 : health.supervisorLeading != true ? 2 : 0
        let report = Report(healthy: exitCode == 0, exitCode: exitCode, workspace: workspace, health: health, metrics: observation.metrics)
        if json {
            try printJSON(report)
        } else {
            print(Self.render(report, database: setup.endpoint.redacted))
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    static func render(_ report: Report, database: String) -> String {
        let health = report.health
        var lines = ["agent-bridge status, workspace \(report.workspace)"]
        let supervisor: String =
            switch health.supervisorLeading {
            case true?: "leading" + (report.metrics?.leaderBackendPID.map { " (lock held by backend pid \($0))" } ?? "")
            case false?: "NONE LEADING: dormant agents are not woken (start agent-bridge supervise)"
            case nil: "unknown"
            }
        var table = TextTable("CHECK", "STATE")
        table.add("database", health.databaseReachable ? "reachable (\(database))" : "UNREACHABLE (\(database))")
        table.add(
            "schema",
            health.schemaVersion.map { version in
                health.schemaCurrent
                    ? "version \(version), current" : "version \(version), NEEDS \(health.requiredSchemaVersion): run agent-bridge migrate"
            } ?? "unknown"
        )
        table.add("supervisor", supervisor)
        table.add("overall", report.healthy ? "healthy" : "UNHEALTHY (exit \(report.exitCode))")
        lines.append(table.render())
        guard let metrics = report.metrics else { return lines.joined(separator: "\n") }

        func counts(_ values: [String: Int64], order: [String]? = nil) -> String {
            let keys = order ?? values.keys.sorted()
            let shown = keys.compactMap { key in values[key].map { "\(key) \($0)" } }
            return shown.isEmpty ? "none" : shown.joined(separator: ", ")
        }
        lines.append("")
        var figures = TextTable("FIGURE", "VALUE")
        figures.add("threads", counts(metrics.threadsByStatus, order: ThreadStatus.allCases.map(\.rawValue)))
        figures.add("unread", "\(metrics.unreadMessages) (member, message) pairs; oldest \(duration(metrics.oldestUnreadSeconds))")
        figures.add("wakes", counts(metrics.wakeResults, order: WorkspaceMetrics.wakeResultNames) + ", open \(metrics.openWakes)")
        figures.add("delivery failures", counts(metrics.deliveryFailures))
        figures.add("tickets", "pending \(metrics.ticketsByState["pending"] ?? 0) (escalated \(metrics.ticketsEscalatedPending))")
        figures.add("escalations", "\(metrics.escalations) (loop guards: \(counts(metrics.loopGuardTrips)))")
        figures.add(
            "read latency",
            metrics.readLatencyP95.map { p95 in
                "p95 ≤ \(seconds(p95)), p50 ≤ \(seconds(metrics.readLatencyP50 ?? 0)) (last hour or two)"
            } ?? "no reads in the last hour or two"
        )
        figures.add(
            "wake start latency",
            metrics.wakeStartLatencyP95.map { p95 in
                "p95 \(seconds(p95)), p50 \(seconds(metrics.wakeStartLatencyP50 ?? 0)) (last hour)"
            } ?? "no wakes in the last hour"
        )
        lines.append(figures.render())

        lines.append("")
        guard !metrics.apiRequests.isEmpty else {
            lines.append("  API requests: none recorded (serve processes persist theirs every 2 s)")
            return lines.joined(separator: "\n")
        }
        var requests = TextTable("TOOL", "CALLS", "OK", "ERRORS BY CODE", "AVG")
        for tool in Set(metrics.apiRequests.map(\.tool)).sorted() {
            let rows = metrics.apiRequests.filter { $0.tool == tool }
            let calls = rows.reduce(0) { $0 + $1.count }
            let ok = rows.first { $0.code == "OK" }?.count ?? 0
            let errors = rows.filter { $0.code != "OK" }.map { "\($0.code) \($0.count)" }.joined(separator: ", ")
            let average = calls > 0 ? rows.reduce(0) { $0 + $1.durationSeconds } / Double(calls) : 0
            requests.add(tool, "\(calls)", "\(ok)", errors.isEmpty ? "-" : errors, seconds(average))
        }
        lines.append(requests.render())
        return lines.joined(separator: "\n")
    }

    private static func seconds(_ value: Double) -> String {
        value < 1 ? String(format: "%.1f ms", value * 1000) : String(format: "%.2f s", value)
    }

    private static func duration(_ value: Double) -> String {
        guard value > 0 else { return "-" }
        let total = Int(value)
        return total >= 3600 ? "\(total / 3600)h \(total % 3600 / 60)m" : total >= 60 ? "\(total / 60)m \(total % 60)s" : "\(total)s"
    }
}
