import BridgeCore
import BridgeMCP
import BridgeService
import BridgeStore
import BridgeSupervisor
import Foundation
import Logging
import PostgresNIO

/// One run of one scenario: the services it starts, the state it keeps while stepping, and the checks at the end.
actor DrillReplay {
    let scenario: DrillScenario
    let signals: [Signal]
    let catalog: PolicyCatalog
    let database: DrillDatabase
    let configuration: DrillRunner.Configuration
    let capture = LogCapture()
    let logger: Logger
    let store: PostgresStore
    let service: BridgeAPI
    let tools: ToolCatalog
    let clock: ManualWallClock
    let supervisor: Supervisor
    let runtime: DrillRuntime
    let tokens: DrillTokens
    /// The tool routers' call counts, persisted before each sample as serve's flusher would.
    let apiStats = APIRequestStats(workspace: "local")
    let presence = PresenceLog()
    let workspace = "local"

    /// Virtual time since the drill began.
    var elapsed = Duration.zero
    var threadIDs: [String: UUID] = [:]
    var databaseStopped = false
    var lockHolder: DrillLockHolder?
    var turnsPlayed: [String: Int] = [:]
    var steps: [DrillReport.StepLine] = []
    var checks: [DrillReport.Check] = []
    /// Reason codes seen in call results (logs and tables are read at the end).
    var reasonsSeen: Set<String> = []
    var internalErrors: [String] = []
    var storedPosts: [(thread: UUID, seq: Int64, body: String)] = []
    var firedSignals: [String: Duration] = [:]

    init(
        scenario: DrillScenario,
        signals: [Signal],
        catalog: PolicyCatalog,
        database: DrillDatabase,
        workDirectory: String,
        configuration: DrillRunner.Configuration,
        baseLogger: Logger
    ) async throws(DrillError) {
        self.scenario = scenario
        self.signals = signals
        self.catalog = catalog
        self.database = database
        self.configuration = configuration
        var logger = capture.logger(label: "drill", forward: configuration.forwardLogs)
        logger.logLevel = .info
        self.logger = logger
        var storeConfiguration = PostgresStore.Configuration(endpoint: database.endpoint)
        storeConfiguration.maximumConnections = 8
        storeConfiguration.operationTimeout = .seconds(3)
        store = PostgresStore(configuration: storeConfiguration, logger: logger)
        service = BridgeAPI(configuration: .init(serverVersion: "drill", catalog: catalog), store: store, logger: logger)
        do {
            tools = try ToolCatalog.bundled()
        } catch {
            throw DrillError("cannot load the tool schemas: \(error)")
        }
        // Activity the database stamps (registration, calls) lies an hour before the virtual start, so nobody
        // looks awake unless a step's heartbeat says so.
        clock = ManualWallClock(Date().addingTimeInterval(3600))
        runtime = DrillRuntime(directory: workDirectory)
        tokens = try await DrillTokens.make(directory: workDirectory, workspace: workspace)
        var timings = catalog.timings
        timings.pollInterval = .seconds(3600)
        timings.triggerDebounce = .zero
        var supervisorConfiguration = Supervisor.Configuration(
            workspace: workspace,
            supervisorID: "drill",
            timings: timings,
            runtimes: runtime.catalog(basedOn: catalog.runtimes)
        )
        supervisorConfiguration.listen = false
        supervisorConfiguration.clock = clock
        supervisorConfiguration.defaultWorkdir = workDirectory
        supervisorConfiguration.scratchDirectory = "\(workDirectory)/wakes"
        supervisor = Supervisor(configuration: supervisorConfiguration, store: store, logger: logger)
    }

    /// Starts the pool and the supervisor, replays, checks, and stops them in ServiceGroup order.
    func run() async throws(DrillError) -> DrillReport {
        let store = self.store
        let supervisor = self.supervisor
        do {
            return try await withThrowingTaskGroup(of: Void.self) { services in
                services.addTask { await store.client.run() }
                defer { services.cancelAll() }
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await supervisor.run() }
                    defer { group.cancelAll() }
                    return try await self.replay()
                }
            }
        } catch let error as DrillError {
            throw error
        } catch {
            throw DrillError("\(scenario.name): \(error)")
        }
    }

    private func replay() async throws(DrillError) -> DrillReport {
        try await waitFor("the drill's supervisor to lead", timeout: .seconds(30)) { [supervisor] in
            supervisor.isLeader && supervisor.ticksCompleted > 0
        }
        try await setUp()
        await sample()
        for step in scenario.steps {
            await advance(to: scenario.offset(of: step))
            let line = try await perform(step)
            steps.append(line)
            await settle()
            await sample()
        }
        await advance(to: elapsed + configuration.settleAfterLastStep)
        await sample()
        if databaseStopped { try await database.start() }
        await lockHolder?.release()
        return try await finish()
    }

    // MARK: - Set-up

    private func setUp() async throws(DrillError) {
        for participant in scenario.participants {
            let context = context(participant.handle)
            var kind = RuntimeKind.none
            if let spec = participant.runtime {
                guard let known = RuntimeKind(rawValue: spec.kind) else {
                    throw DrillError("\(scenario.name): runtime kind \(spec.kind) of \(participant.handle) is unknown")
                }
                kind = known
            }
            do throws(BridgeError) {
                if let spec = participant.runtime {
                    _ = try await store.registerParticipant(
                        ParticipantRegistration(
                            displayName: nil,
                            runtime: RuntimeDescriptor(
                                kind: kind,
                                managed: spec.managed,
                                sessionID: spec.sessionID,
                                workdir: runtime.directory
                            )
                        ),
                        context: context,
                        idempotency: nil
                    )
                } else {
                    try await store.ensureParticipant(context: context)
                }
            } catch {
                throw DrillError("\(scenario.name): cannot register \(participant.handle): \(error.message)")
            }
            do {
                try runtime.setOutcomes(participant.outcomes ?? ["ok"], for: participant.handle)
            } catch {
                throw DrillError("\(scenario.name): cannot script \(participant.handle)'s runtime: \(error)")
            }
        }
        for thread in scenario.threads {
            do throws(BridgeError) {
                let members = thread.members.filter { $0 != thread.creator }.map { ($0, role(of: $0)) }
                let (created, _) = try await store.createThread(
                    NewThread(title: thread.title, autonomous: thread.autonomous ?? false, participants: members, firstMessage: nil),
                    context: context(thread.creator),
                    idempotency: nil
                )
                threadIDs[thread.name] = created.thread.thread.id
            } catch {
                throw DrillError("\(scenario.name): cannot create thread \(thread.name): \(error.message)")
            }
        }
    }

    func role(of handle: String) -> Role {
        scenario.participants.first { $0.handle == handle }.flatMap { Role(rawValue: $0.role) } ?? .executioner
    }

    func context(_ handle: String, role: Role? = nil) -> CallContext {
        CallContext(
            identity: Identity(workspace: workspace, handle: handle, role: role ?? self.role(of: handle)),
            requestID: "drill_\(UUID().wireString.prefix(8))"
        )
    }

    // MARK: - Time

    /// Moves the clock to `target`, one tick step at a time, letting the supervisor act after each.
    func advance(to target: Duration) async {
        while elapsed < target {
            let step = min(configuration.tickStep, target - elapsed)
            clock.advance(by: step)
            elapsed += step
            if databaseStopped {
                // Every tick fails the same way while the database is down; one per step shows it.
                continue
            }
            await settle()
        }
    }

    /// Ticks until nothing changes: wake processes have ended (or hang by script), the agents' turns are played.
    func settle() async {
        for _ in 0..<30 {
            let report = await supervisor.tick(trigger: "drill")
            if report.failure != nil { return }
            var played = 0
            let deadline = ContinuousClock.now.advanced(by: .seconds(15))
            while ContinuousClock.now < deadline {
                played += await playTurns()
                guard let running = await runningAttempts(), running > hangingParticipants() else { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
            if report.isIdle && played == 0 { return }
        }
    }

    /// Wake attempts the database still has as running.
    func runningAttempts() async -> Int? {
        try? await scalar("SELECT count(*)::bigint FROM wake_attempts WHERE outcome = 'running'")
    }

    func hangingParticipants() -> Int {
        scenario.participants.filter { runtime.latestHangs($0.handle) }.count
    }

    /// Plays the agent's turn for every `ok` wake process waiting on one: read each of its threads to the end
    /// and ack, then let the process exit.
    func playTurns() async -> Int {
        var played = 0
        for participant in scenario.participants where participant.runtime != nil {
            let handle = participant.handle
            let reached = runtime.turnsReached(by: handle)
            var done = turnsPlayed[handle, default: 0]
            while done < reached.count {
                let turn = reached[done]
                done += 1
                for thread in scenario.threads where thread.creator == handle || thread.members.contains(handle) {
                    guard let id = threadIDs[thread.name] else { continue }
                    let read = await call(
                        as: handle,
                        tool: "v1_message_read",
                        arguments: ["thread_id": .string(id.wireString), "limit": .integer(500)]
                    )
                    if let last = read.structured?["last_seq"]?.int64Value, last > 0 {
                        _ = await call(as: handle, tool: "v1_message_ack", arguments: ["thread_id": .string(id.wireString), "seq": .integer(last)])
                    }
                }
                runtime.markTurnPlayed(turn, by: handle)
                played += 1
            }
            turnsPlayed[handle] = done
        }
        return played
    }

    // MARK: - Observing

    /// Reads metrics and readiness as a scrape would, and notes which signals hold now.
    func sample() async {
        let needsMetrics = signals.contains { if case .metric = $0.kind { true } else { false } }
        if needsMetrics && !databaseStopped {
            let tallies = apiStats.drain()
            if !tallies.isEmpty {
                do throws(BridgeError) {
                    try await store.recordAPIRequests(tallies, workspace: workspace)
                } catch {
                    apiStats.restore(tallies)
                }
            }
        }
        let needsReady = signals.contains { if case .ready = $0.kind { true } else { false } }
        let samples = needsMetrics ? MetricSample.parse(await configuration.probes.metrics(store, supervisor, clock.now())) : []
        let ready = needsReady ? await configuration.probes.ready(store, supervisor) : nil
        for signal in signals where firedSignals[signal.text] == nil {
            switch signal.kind {
            case .metric(let condition):
                if condition.holds(in: samples) { firedSignals[signal.text] = elapsed }
            case .ready(let expected):
                if ready == expected { firedSignals[signal.text] = elapsed }
            case .event, .reason:
                break
            }
        }
    }

    func scalar(_ sql: String) async throws -> Int {
        let rows = try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await row in rows { return Int(try row.decode(Int64.self)) }
        return 0
    }

    /// Polls `condition` in real time until it holds.
    func waitFor(_ what: String, timeout: Duration, _ condition: @Sendable () async -> Bool) async throws(DrillError) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        throw DrillError("\(scenario.name): timed out waiting for \(what)")
    }
}
