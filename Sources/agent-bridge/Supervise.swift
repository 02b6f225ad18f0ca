import ArgumentParser
import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import Logging
import ServiceLifecycle

/// `agent-bridge supervise`: the long-running supervisor of DESIGN §5.
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
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    @Option(help: "The workspace to supervise. Default: $AGENT_BRIDGE_WORKSPACE, else local.")
    var workspace: String?

    @Option(name: .customLong("id"), help: "This supervisor's name in audit events and wake attempts. Default: HOST-PID.")
    var supervisorID: String?

    @Flag(name: .customLong("no-listen"), help: "Do not LISTEN for posts: find work by polling alone (every poll_interval).")
    var noListen = false

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
            workspace: resolveWorkspace(workspace), supervisorID: supervisorID ?? "\(host)-\(getpid())",
            timings: policyCatalog.timings, runtimes: policyCatalog.runtimes)
        configuration.listen = !noListen
        let supervisor = Supervisor(configuration: configuration, store: store, logger: logger)
        logger.notice("Supervisor starting.", metadata: [
            "event": "supervisor.started", "workspace": "\(configuration.workspace)", "supervisor": "\(configuration.supervisorID)",
            "poll_interval_ms": "\(Int(configuration.timings.pollInterval.seconds * 1000))",
            "listen": "\(configuration.listen)", "database": "\(setup.endpoint.redacted)",
        ])
        let prepared = PreparedService(supervisor) {
            // Keep trying: a supervisor started before its database comes up waits for it.
            while !Task.isCancelled {
                do throws(BridgeError) {
                    try await setup.prepareSchema(store, logger: logger)
                    return
                } catch {
                    logger.error("The database is not ready; retrying.", metadata: ["event": "db.unavailable", "reason": "\(error.reason.rawValue)", "error": "\(error.message)"])
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: store.client),
                .init(service: prepared, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
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
