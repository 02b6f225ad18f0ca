import BridgeCore
import BridgeService
import BridgeStore
import BridgeSupervisor
import Foundation
import PostgresNIO

extension BenchSession {
    /// The wake step's own workspace, so the supervisor's loop guards never see the throughput threads.
    static let wakeWorkspace = "bench_wake"

    /// Message-to-wake-trigger: an in-process supervisor (real leader lock, listening) on the scratch
    /// database, with a `command` runtime that is `/bin/true`. Each sample posts a directed message to a
    /// dormant managed participant in its own thread (a thread's no-progress guard would stop a long
    /// series), then waits for the wake attempt's row. The target then reads and calls in, so the request
    /// ends as acknowledged instead of retrying during later samples.
    func measureWakeTrigger() async throws -> BenchReport.WakeTriggerResult {
        let samples = configuration.wakeSamples
        let workspace = Self.wakeWorkspace
        let waker = "bench-waker"
        let workdir = NSTemporaryDirectory()
        let truePath = ["/bin/true", "/usr/bin/true"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "true"

        // Dormant managed targets, one thread each.
        try await writerStore.ensureParticipant(context: context(waker, workspace: workspace))
        var targets: [(handle: String, thread: UUID)] = []
        for index in 0..<samples {
            let handle = String(format: "bench-wake-%03d", index)
            let target = context(handle, workspace: workspace)
            _ = try await writerStore.registerParticipant(
                ParticipantRegistration(
                    displayName: nil,
                    runtime: RuntimeDescriptor(kind: .command, managed: true, sessionID: nil, workdir: workdir)
                ),
                context: target,
                idempotency: nil
            )
            _ = try await writerStore.heartbeat(Heartbeat(presence: .dormant, humanInput: false, sessionID: nil), context: target, idempotency: nil)
            let new = NewThread(title: "wake \(index)", autonomous: false, participants: [(handle, Role.executioner)], firstMessage: nil)
            let thread = try await writerStore.createThread(new, context: context(waker, workspace: workspace), idempotency: nil).0.thread.thread.id
            targets.append((handle, thread))
        }

        var supervisorStoreConfiguration = PostgresStore.Configuration(endpoint: endpoint)
        supervisorStoreConfiguration.operationTimeout = .seconds(30)
        let supervisorStore = PostgresStore(configuration: supervisorStoreConfiguration, logger: logger)
        var supervisorConfiguration = Supervisor.Configuration(
            workspace: workspace,
            supervisorID: "bench",
            timings: configuration.catalog.timings,
            runtimes: RuntimeCatalog(runtimes: [.command: .init(resume: nil, spawn: [truePath], sessionID: nil, timeout: .seconds(10))])
        )
        supervisorConfiguration.defaultWorkdir = workdir
        // Its ticks in flight when the step ends fail as the pool stops; that is not worth a warning here.
        var supervisorLogger = logger
        supervisorLogger.logLevel = max(logger.logLevel, .error)
        let supervisor = Supervisor(configuration: supervisorConfiguration, store: supervisorStore, logger: supervisorLogger)

        return try await withThrowingTaskGroup(of: Void.self) { services in
            services.addTask { await supervisorStore.client.run() }
            defer { services.cancelAll() }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await supervisor.run() }
                defer { group.cancelAll() }
                let ready = ContinuousClock.now + .seconds(30)
                while !(supervisor.isLeader && supervisor.isListening && supervisor.ticksCompleted > 0) {
                    guard ContinuousClock.now < ready else {
                        throw BridgeError(.unavailable, .databaseUnavailable, "The bench's supervisor did not lead and listen within 30 s.")
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                var observed: [Duration] = []
                var stamped: [Duration] = []
                for target in targets {
                    try Task.checkCancellation()
                    // Let the previous sample's ticks settle, as between real posts.
                    try await Task.sleep(for: .milliseconds(100))
                    let input = try Self.postInput(thread: target.thread, body: "wake up", to: [target.handle])
                    let start = ContinuousClock.now
                    let seq: Int64
                    do {
                        seq = try await service.post(
                            input,
                            schemaVersion: SchemaVersion.current,
                            context: context(waker, workspace: workspace),
                            idempotency: nil
                        ).message.seq
                        tally.record(step: "wake_trigger", kind: .post, error: nil)
                    } catch {
                        tally.record(step: "wake_trigger", kind: .post, error: error)
                        continue
                    }
                    switch try await waitForAttempt(target: target.handle, workspace: workspace) {
                    case nil:
                        tally.add(step: "wake_trigger", kind: .wake, calls: 0, failures: ["WAKE_NOT_STARTED_IN_10S": 1])
                        continue
                    case .deferred:
                        // Deferred on purpose (a human was typing, the session was live): a chosen wait, no sample.
                        break
                    case .started(let gap):
                        observed.append(start.duration(to: .now))
                        stamped.append(gap)
                    }
                    let seen = context(target.handle, workspace: workspace)
                    _ = try? await writerStore.acknowledge(threadID: target.thread, seq: seq, context: seen, idempotency: nil)
                    try? await writerStore.markSeen(context: seen)
                }
                return BenchReport.WakeTriggerResult(
                    clientObserved: LatencySummary(observed),
                    databaseStamps: LatencySummary(stamped),
                    method: "client_observed: just before the post call until the wake_attempts row is visible (polled every 2 ms); "
                        + "database_stamps: wake_attempts.started_at (supervisor clock at its tick's start) minus messages.created_at (database transaction time); "
                        + "wakes deferred on purpose are left out"
                )
            }
        }
    }

    /// How a sample's wake began.
    enum WakeStart {
        /// The first attempt started this long (started_at − created_at) after the message.
        case started(Duration)
        /// The request was deferred on purpose, before or after it started.
        case deferred
    }

    /// Polls every 2 ms, for up to 10 s, for the target's first wake request to start an attempt or be deferred.
    private func waitForAttempt(target: String, workspace: String) async throws -> WakeStart? {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let rows = try await writerStore.client.query(
                """
                SELECT w.deferred_since IS NOT NULL,
                       (SELECT EXTRACT(EPOCH FROM a.started_at - m.created_at)::float8
                          FROM wake_attempts a WHERE a.request_id = w.id ORDER BY a.attempt LIMIT 1)
                  FROM wake_requests w
                  JOIN messages m ON m.thread_id = w.thread_id AND m.seq = w.trigger_seq
                 WHERE w.workspace_id = \(workspace) AND w.target = \(target)
                 ORDER BY w.created_at LIMIT 1
                """,
                logger: logger
            )
            for try await (deferred, seconds) in rows.decode((Bool, Double?).self) {
                if deferred { return .deferred }
                if let seconds { return .started(.milliseconds(Int64((seconds * 1_000_000).rounded())) / 1000) }
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }
}
