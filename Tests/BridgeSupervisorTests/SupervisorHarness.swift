import BridgeCore
import BridgeService
import BridgeStore
import BridgeSupervisor
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// A running supervisor on a fresh database, deciding by a manual clock, with the fake `codex`, `claude` and
/// `agent-bridge-wake` first on its wake processes' PATH. Tests drive it with ``tick()`` and ``advance(_:)``.
final class SupervisorHarness: Sendable {
    let database: TestDatabase
    let store: PostgresStore
    let clock: ManualWallClock
    let supervisor: Supervisor
    /// Where the fake runtimes record each invocation.
    let runtimeDirectory: String
    let logger = SupervisorHarness.makeLogger()

    static func makeLogger() -> Logger {
        var logger = Logger(label: "supervisor-tests")
        logger.logLevel = .warning
        return logger
    }

    /// Test timings: polling effectively off (ticks come from the test, runner exits and, when on, the listener).
    static func testTimings() -> PolicyCatalog.Timings {
        var timings = PolicyCatalog.Timings()
        timings.pollInterval = .seconds(3600)
        timings.triggerDebounce = .zero
        return timings
    }

    private init(database: TestDatabase, store: PostgresStore, clock: ManualWallClock, supervisor: Supervisor, runtimeDirectory: String) {
        self.database = database
        self.store = store
        self.clock = clock
        self.supervisor = supervisor
        self.runtimeDirectory = runtimeDirectory
    }

    /// Runs `body` against a leading supervisor; stops everything afterwards.
    static func run(
        timings adjust: (inout PolicyCatalog.Timings) -> Void = { _ in },
        listen: Bool = false,
        fake: [String: String] = [:],
        _ body: @Sendable (SupervisorHarness) async throws -> Void
    ) async throws {
        let logger = makeLogger()
        let database = try await TestDatabase.create(logger: logger)
        let store = database.store(logger: logger, maximumConnections: 8)
        // Set once the database is up (creating the first one can take seconds), so the virtual clock starts
        // where the database's clock is: human input and heartbeats are stamped by the database.
        let clock = ManualWallClock()
        var timings = testTimings()
        adjust(&timings)
        let catalog = try CatalogLoader.load(directory: nil)
        let runtimeDirectory = "\(NSTemporaryDirectory())agent-bridge-fake-runtime-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runtimeDirectory) }
        var configuration = Supervisor.Configuration(workspace: "local", supervisorID: "test-sup", timings: timings, runtimes: catalog.runtimes)
        configuration.listen = listen
        configuration.clock = clock
        configuration.defaultWorkdir = runtimeDirectory
        configuration.wakeEnvironment = [
            "PATH": "\(TestDatabase.fakeRuntimesDirectory):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
            "FAKE_RUNTIME_DIR": runtimeDirectory,
            "AGENT_BRIDGE_BIN": TestDatabase.executableURL.path,
            "DATABASE_URL": database.url,
            "AGENT_BRIDGE_DB_TIMEOUT_MS": "30000",
        ].merging(fake) { $1 }
        let supervisor = Supervisor(configuration: configuration, store: store, logger: logger)
        let harness = SupervisorHarness(database: database, store: store, clock: clock, supervisor: supervisor, runtimeDirectory: runtimeDirectory)
        // Stopped in the order a ServiceGroup uses: the supervisor first, then the pool it still needs while stopping.
        try await withThrowingTaskGroup(of: Void.self) { services in
            services.addTask { await store.client.run() }
            defer { services.cancelAll() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await supervisor.run() }
                defer { group.cancelAll() }
                // Leading, listening when asked to, and past the catch-up tick that leadership starts with.
                try await harness.waitUntil("the supervisor leads") {
                    supervisor.isLeader && (!listen || supervisor.isListening) && supervisor.ticksCompleted > 0
                }
                try await body(harness)
            }
        }
    }

    // MARK: - Acting as participants

    func context(_ handle: String, role: Role = .coordinator) -> CallContext {
        CallContext(identity: Identity(workspace: "local", handle: handle, role: role), requestID: "req_test_\(UUID().uuidString.prefix(8))")
    }

    /// Registers `handle` with a runtime, as its MCP session's `v1_participant_register` would.
    func register(_ handle: String, role: Role = .executioner, kind: RuntimeKind, managed: Bool = true, sessionID: String? = nil) async throws {
        _ = try await store.registerParticipant(
            ParticipantRegistration(displayName: nil, runtime: RuntimeDescriptor(kind: kind, managed: managed, sessionID: sessionID, workdir: nil)),
            context: context(handle, role: role),
            idempotency: nil
        )
    }

    /// A thread created by `creator` with `members` (as executioners).
    func thread(by creator: String, members: [String], autonomous: Bool = false, title: String = "work") async throws -> UUID {
        try await store.ensureParticipant(context: context(creator))
        let (created, _) = try await store.createThread(
            NewThread(title: title, autonomous: autonomous, participants: members.map { ($0, Role.executioner) }, firstMessage: nil),
            context: context(creator),
            idempotency: nil
        )
        return created.thread.thread.id
    }

    @discardableResult
    func post(_ body: String, in thread: UUID, from author: String, to: [String] = [], kind: MessageKind = .note) async throws -> Message {
        try await store.postAsMember(
            NewMessage(threadID: thread, kind: kind, to: to, replyToSeq: nil, body: body, payload: .emptyObject, schemaVersion: "1.0"),
            context: context(author)
        ).0
    }

    func heartbeat(_ handle: String, presence: Presence = .active, humanInput: Bool = false) async throws {
        _ = try await store.heartbeat(
            Heartbeat(presence: presence, humanInput: humanInput, sessionID: nil),
            context: context(handle),
            idempotency: nil
        )
    }

    /// Runs SQL on the test database (to set a timestamp to the manual clock's time, say).
    func execute(_ query: PostgresQuery) async throws {
        _ = try await store.client.query(query, logger: logger)
    }

    // MARK: - Time and ticks

    @discardableResult
    func tick() async -> TickReport {
        await supervisor.tick()
    }

    func advance(_ duration: Duration) {
        clock.advance(by: duration)
    }

    // MARK: - Observing

    func wakes(of target: String) async throws -> [WakeRequest] {
        try await store.wakeRequests(target: target, threadID: nil, limit: 50, workspace: "local")
    }

    func latestWake(of target: String) async throws -> WakeRequest {
        try #require(try await wakes(of: target).first)
    }

    /// Each recorded invocation of the fake `program`, oldest first, as the argument list it received.
    func invocations(of program: String) throws -> [[String]] {
        let files = try FileManager.default.contentsOfDirectory(atPath: runtimeDirectory)
            .filter { $0.hasPrefix("\(program)-") && $0.hasSuffix(".args") }
            .sorted()
        return try files.map { file in
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(runtimeDirectory)/\(file)"))
            var arguments = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if arguments.last == "" { arguments.removeLast() }
            return arguments
        }
    }

    /// The process id of each recorded invocation of the fake `program`, oldest first (a fake that hangs
    /// `exec`s its sleep, so this is the process the supervisor waits for).
    func processIDs(of program: String) throws -> [pid_t] {
        try FileManager.default.contentsOfDirectory(atPath: runtimeDirectory)
            .filter { $0.hasPrefix("\(program)-") && $0.hasSuffix(".args") }
            .sorted()
            .compactMap { file in file.dropLast(".args".count).split(separator: "-").last.flatMap { pid_t($0) } }
    }

    /// The `AGENT_BRIDGE_*` environment of each recorded invocation of the fake `program`, oldest first.
    func environments(of program: String) throws -> [[String: String]] {
        let files = try FileManager.default.contentsOfDirectory(atPath: runtimeDirectory)
            .filter { $0.hasPrefix("\(program)-") && $0.hasSuffix(".env") }
            .sorted()
        return try files.map { file in
            let text = try String(contentsOfFile: "\(runtimeDirectory)/\(file)", encoding: .utf8)
            var variables: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                variables[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            return variables
        }
    }

    /// Waits for a condition on state (see BridgeTestSupport's `waitUntil`).
    func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        try await BridgeTestSupport.waitUntil(what, timeout: timeout, condition)
    }

    /// Waits until `target`'s latest wake request is in `state`.
    @discardableResult
    func waitForWake(of target: String, in state: WakeState, timeout: Duration = .seconds(30)) async throws -> WakeRequest {
        try await waitUntil("\(target)'s wake is \(state.rawValue)", timeout: timeout) {
            try await self.wakes(of: target).first?.state == state
        }
        return try await latestWake(of: target)
    }
}
