import BridgeCore
import BridgeMCP
import BridgeService
import BridgeStore
import BridgeSupervisor
import Foundation
import Logging
import Synchronization

/// Replays one ``DrillScenario`` against a throw-away database with a real store, the real tool router and a
/// real supervisor deciding by a virtual clock, then checks the runbook's signals and the end state.
///
/// Time only moves when the drill moves it: between steps the clock advances one `tick_step` at a time and
/// the supervisor ticks after each, so a 10-minute incident replays in seconds and decides the same way
/// every time.
public struct DrillRunner: Sendable {
    public struct Configuration: Sendable {
        /// The server scratch databases are created on (the embedded cluster or `DATABASE_URL`).
        public var server: DatabaseEndpoint
        /// The catalog in force; the scenario's `timings` override its timings.
        public var catalog: PolicyCatalog
        /// The runbook pages, to read each drill's signals from.
        public var runbooksDirectory: String
        /// How far the clock moves between two supervisor ticks.
        public var tickStep: Duration = .seconds(1)
        /// How long the drill keeps ticking after its last step.
        public var settleAfterLastStep: Duration = .seconds(30)
        /// Forward every captured log line to this logger too (`--verbose`).
        public var forwardLogs: Logger?
        /// Leave the database in place afterwards (its URL is in the report), to inspect it or record from it.
        public var keepDatabase = false
        /// Reads metrics and readiness the way `/metrics` and `/ready` do.
        public var probes: DrillProbes

        public init(server: DatabaseEndpoint, catalog: PolicyCatalog, runbooksDirectory: String, probes: DrillProbes) {
            self.server = server
            self.catalog = catalog
            self.runbooksDirectory = runbooksDirectory
            self.probes = probes
        }
    }

    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the drill and returns its report; throws only when it cannot run at all.
    public func run(_ scenario: DrillScenario) async throws(DrillError) -> DrillReport {
        let page = try RunbookPage.load(directory: configuration.runbooksDirectory, file: scenario.runbook)
        let signals = try signalsToCheck(scenario, page: page)
        let catalog = try catalogFor(scenario)
        let workDirectory = "\(NSTemporaryDirectory())agent-bridge-drill-\(UUID().wireString.prefix(8).lowercased())"
        do {
            try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
            // The runtime script runs as this user; a private cluster's files belong to `postgres`.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: workDirectory)
        } catch {
            throw DrillError("cannot create \(workDirectory): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }

        let database = try await DrillDatabase.make(
            scenario.database ?? .scratch,
            server: configuration.server,
            workDirectory: workDirectory,
            logger: logger
        )
        let started = ContinuousClock.now
        let report: DrillReport
        do {
            let replay = try await DrillReplay(
                scenario: scenario,
                signals: signals,
                catalog: catalog,
                database: database,
                workDirectory: workDirectory,
                configuration: configuration,
                baseLogger: logger
            )
            report = try await replay.run()
        } catch {
            await database.dispose(logger: logger)
            throw error
        }
        var finished = report
        if configuration.keepDatabase && database.cluster == nil {
            finished.keptDatabaseURL = database.endpoint.url
        } else {
            await database.dispose(logger: logger)
        }
        finished.realDuration = started.duration(to: .now)
        return finished
    }

    /// The page's signals, or the subset the scenario names (each of which the page must list).
    func signalsToCheck(_ scenario: DrillScenario, page: RunbookPage) throws(DrillError) -> [Signal] {
        guard let named = scenario.expect.signals else { return page.signals }
        var chosen: [Signal] = []
        for text in named {
            guard let signal = page.signals.first(where: { $0.text == text }) else {
                throw DrillError("\(scenario.name): expects signal `\(text)`, which \(scenario.runbook) does not list under Signals")
            }
            chosen.append(signal)
        }
        return chosen
    }

    /// The catalog with the scenario's timing overrides applied.
    func catalogFor(_ scenario: DrillScenario) throws(DrillError) -> PolicyCatalog {
        var catalog = configuration.catalog
        for (key, value) in (scenario.timings ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard try DrillTimings.apply(key: key, value: value, to: &catalog.timings) else {
                throw DrillError("\(scenario.name): timings.\(key) is not a policy.yaml timing")
            }
        }
        return catalog
    }
}

/// How a drill reads the same figures `/metrics` and `/ready` serve.
public struct DrillProbes: Sendable {
    /// The Prometheus text for the drill's workspace at the virtual time `now`.
    public var metrics: @Sendable (_ store: PostgresStore, _ supervisor: Supervisor, _ now: Date) async -> String
    /// Whether `/ready` would answer 200.
    public var ready: @Sendable (_ store: PostgresStore, _ supervisor: Supervisor) async -> Bool

    public init(
        metrics: @escaping @Sendable (_ store: PostgresStore, _ supervisor: Supervisor, _ now: Date) async -> String,
        ready: @escaping @Sendable (_ store: PostgresStore, _ supervisor: Supervisor) async -> Bool
    ) {
        self.metrics = metrics
        self.ready = ready
    }
}

/// Reads one `policy.yaml` timing given as text into `Timings`.
enum DrillTimings {
    /// Sets `key`; false when no such timing exists. Throws for a value of the wrong form.
    static func apply(key: String, value: String, to timings: inout PolicyCatalog.Timings) throws(DrillError) -> Bool {
        guard let field = PolicyCatalog.Timings.fields.first(where: { $0.key == key })?.field else { return false }
        switch field {
        case .duration(let path):
            guard let parsed = CatalogParser.parseDuration(value) else { throw DrillError("timings.\(key): \(value) is not a duration like 8s") }
            timings[keyPath: path] = parsed
        case .count(let path):
            guard let parsed = Int(value), parsed >= 0 else { throw DrillError("timings.\(key): \(value) is not a count") }
            timings[keyPath: path] = parsed
        }
        return true
    }

    /// Every timing as `policy.yaml` text, for a recorded scenario.
    static func texts(_ timings: PolicyCatalog.Timings) -> [String: String] {
        var texts: [String: String] = [:]
        for (key, field) in PolicyCatalog.Timings.fields {
            switch field {
            case .duration(let path):
                let milliseconds = Int64(timings[keyPath: path].seconds * 1000)
                texts[key] = milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
            case .count(let path):
                texts[key] = "\(timings[keyPath: path])"
            }
        }
        return texts
    }
}

/// The database a drill runs on, and how to stop, start and dispose of it.
struct DrillDatabase: Sendable {
    let endpoint: DatabaseEndpoint
    let scratch: ScratchDatabase?
    let cluster: EmbeddedCluster?

    static func make(
        _ mode: DrillScenario.DatabaseMode,
        server: DatabaseEndpoint,
        workDirectory: String,
        logger: Logger
    ) async throws(DrillError) -> DrillDatabase {
        do throws(BridgeError) {
            switch mode {
            case .scratch:
                let scratch = try await ScratchDatabase.create(on: server, purpose: "drill", logger: logger)
                return DrillDatabase(endpoint: scratch.endpoint, scratch: scratch, cluster: nil)
            case .privateCluster:
                let cluster = EmbeddedCluster(configuration: .init(stateDirectory: "\(workDirectory)/cluster"), logger: logger)
                try await cluster.ensureRunning()
                let store = PostgresStore(configuration: .init(endpoint: cluster.endpoint), logger: logger)
                _ = try await store.withRunningPool { try await store.migrate() }
                return DrillDatabase(endpoint: cluster.endpoint, scratch: nil, cluster: cluster)
            }
        } catch {
            throw DrillError("cannot prepare the drill's database: \(error.message)")
        }
    }

    func stop() async throws(DrillError) {
        guard let cluster else { throw DrillError("only a private cluster can be stopped") }
        do { try await cluster.stop() } catch { throw DrillError("cannot stop the drill's cluster: \(error.message)") }
    }

    func start() async throws(DrillError) {
        guard let cluster else { throw DrillError("only a private cluster can be started") }
        do { try await cluster.ensureRunning() } catch { throw DrillError("cannot start the drill's cluster: \(error.message)") }
    }

    func dispose(logger: Logger) async {
        if let scratch { await scratch.drop(logger: logger) }
        if let cluster { try? await cluster.stop() }
    }
}
