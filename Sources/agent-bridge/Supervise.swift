import ArgumentParser
import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `agent-bridge supervise`: the long-running supervisor (ARCHITECTURE.md, Supervisor).
struct Supervise: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the supervisor: wake dormant agents when work arrives, stop looping threads, expire approval tickets.",
        discussion: """
            The supervisor wakes a participant whose runtime is managed when a message is directed to it and it is \
            not active: it resumes the recorded session (codex exec … resume, claude -p --resume) or spawns a new \
            one, using the argv templates in the catalog's runtimes.yaml. It reacts to each post at once (LISTEN), \
            and also ticks every poll_interval, finding due work from the tables alone, so nothing depends on a \
            notification arriving.

            Register an agent for waking from its MCP session:
              v1_participant_register {"runtime": {"kind": "codex_cli", "managed": true,
                "session_id": "<codex session id>", "workdir": "/path/to/repo"}}

            Run several supervisors on one database for failover: one leads (a PostgreSQL advisory lock), the \
            others stand by and take over within 2 × poll_interval when it dies. Timings are in the catalog's \
            policy.yaml. Logs are JSON lines on stderr (tick.completed, tick.idle, tick.failed, wake.*, \
            loop_guard.tripped, supervisor.leader). Stop it with Ctrl-C or SIGTERM; wake processes still running \
            are stopped.

            Health and metrics over loopback HTTP, port 9464 unless --http-port says:
              GET /health    200 while the process runs
              GET /ready     200 when the database is reachable, its schema
                             current and (listening on) the listener connected;
                             a standby counts as ready. Else 503 with
                             {"ready":false,"down":["database","listener"]}
              GET /metrics   Prometheus text, agent_bridge_* (README: Observability)

            The endpoints have no authentication, so they bind to loopback only; scrape them from the same host \
            or through a proxy you secure. A port already in use is logged (http.failed) and supervising goes on \
            without HTTP. --http-port 0 picks a free port and logs it (http.listening); --no-http turns HTTP off. \
            For a one-shot check from a shell, use agent-bridge status.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    @Option(help: "The workspace to supervise. Default: $AGENT_BRIDGE_WORKSPACE, else local.")
    var workspace: String?

    @Option(name: .customLong("id"), help: "This supervisor's name in audit events and wake attempts. Default: HOST-PID.")
    var supervisorID: String?

    @Flag(name: .customLong("no-listen"), help: "Do not LISTEN for posts: find work by polling alone (every poll_interval).")
    var noListen = false

    @Option(name: .customLong("http-port"), help: "The port of /health, /ready and /metrics; 0 picks a free one (logged).")
    var httpPort = 9464

    @Option(name: .customLong("http-host"), help: "The loopback address to bind: 127.0.0.1, ::1 or localhost. Other addresses are refused.")
    var httpHost = "127.0.0.1"

    @Flag(name: .customLong("no-http"), help: "Serve no HTTP endpoints.")
    var noHTTP = false

    func validate() throws {
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be 0…65535.") }
        guard Self.isLoopback(httpHost) else {
            throw ValidationError(
                "--http-host \(httpHost) is not a loopback address; the endpoints are unauthenticated. Use 127.0.0.1, ::1 or localhost."
            )
        }
    }

    /// Whether `host` names this machine's loopback interface.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.split(separator: ".").first == "127" && host.split(separator: ".").count == 4
    }

    func run() async throws {
        let logger = database.bootstrapLogging()
        let policyCatalog = catalog.loadOrExit()
        let setup: DatabaseSetup
        do {
            setup = try DatabaseSetup(options: database, logger: logger)
            try await setup.startClusterIfNeeded()
        } catch {
            exitWithError(error.message, code: 3)
        }
        let store = PostgresStore(configuration: .init(endpoint: setup.endpoint), logger: logger)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        var configuration = Supervisor.Configuration(
            workspace: resolveWorkspace(workspace),
            supervisorID: supervisorID ?? "\(host)-\(getpid())",
            timings: policyCatalog.timings,
            runtimes: policyCatalog.runtimes
        )
        configuration.listen = !noListen
        let supervisor = Supervisor(configuration: configuration, store: store, logger: logger)
        logger.notice(
            "Supervisor starting.",
            metadata: [
                "event": "supervisor.started", "workspace": "\(configuration.workspace)", "supervisor": "\(configuration.supervisorID)",
                "poll_interval_ms": "\(Int(configuration.timings.pollInterval.seconds * 1000))",
                "listen": "\(configuration.listen)", "database": "\(setup.endpoint.redacted)",
            ]
        )
        let prepared = PreparedService(supervisor) {
            // Keep trying: a supervisor started before its database comes up waits for it.
            while !Task.isCancelled {
                do throws(BridgeError) {
                    try await setup.prepareSchema(store, logger: logger)
                    return
                } catch {
                    logger.error(
                        "The database is not ready; retrying.",
                        metadata: ["event": "db.unavailable", "reason": "\(error.reason.rawValue)", "error": "\(error.message)"]
                    )
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: store.client)]
        if !noHTTP {
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            // swift-metrics labels use dots (http.server.request.duration); Prometheus names may not.
            factory.nameAndLabelSanitizer = { name, labels in
                (name.replacingOccurrences(of: ".", with: "_"), labels.map { ($0.0.replacingOccurrences(of: ".", with: "_"), $0.1) })
            }
            MetricsSystem.bootstrap(factory)
            var http = HealthServer.Configuration()
            http.host = httpHost
            http.port = httpPort
            // Before the supervisor: /health answers while it still waits for its database.
            services.append(
                .init(
                    service: HealthServer(
                        configuration: http,
                        exporter: MetricsExporter(supervisor: supervisor, registry: registry),
                        logger: logger
                    )
                )
            )
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services + [
                    .init(
                        service: prepared,
                        successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup
                    )
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// Runs `prepare` (schema check or migration), then the wrapped service.
struct PreparedService<Wrapped: Service>: Service {
    let wrapped: Wrapped
    let prepare: @Sendable () async -> Void

    init(_ wrapped: Wrapped, prepare: @escaping @Sendable () async -> Void) {
        self.wrapped = wrapped
        self.prepare = prepare
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await prepare() }
        if Task.isCancelled || Task.isShuttingDownGracefully { return }
        try await wrapped.run()
    }
}
