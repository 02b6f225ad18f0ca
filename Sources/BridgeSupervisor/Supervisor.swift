import BridgeCore
import BridgeStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `agent-bridge supervise`: wakes dormant agents when work arrives for them, keeps threads from looping,
/// and escalates and expires approval tickets (ARCHITECTURE.md, Supervisor).
///
/// Trigger first: the leader LISTENs for posts and ticks at once (debounced). Polling fallback: it also
/// ticks every `poll_interval`, and every tick finds due work from table state alone, so a lost
/// notification or a dead listener delays work by at most one interval. Several supervisors may run;
/// one leads (``LeaderLock``), the others stand by.
///
/// Run it in a `ServiceGroup` after the store's client.
public final class Supervisor: Service, Sendable {
    /// What the supervisor watches and how it wakes.
    public struct Configuration: Sendable {
        /// The workspace this supervisor serves.
        public var workspace: String
        /// This supervisor's name in audit events (`supervisor:ID`) and wake attempts.
        public var supervisorID: String
        public var timings: PolicyCatalog.Timings
        public var runtimes: RuntimeCatalog
        /// Whether to LISTEN for posts; without it, polling alone finds work.
        public var listen = true
        /// The clock decisions are made by.
        public var clock: any WallClock = SystemWallClock()
        /// Variables added to the supervisor's own environment for wake processes.
        public var wakeEnvironment: [String: String] = [:]
        /// The workdir of a participant that registered none.
        public var defaultWorkdir = FileManager.default.currentDirectoryPath
        /// How much of a wake process's output is kept with its attempt.
        public var outputTailBytes = 8192
        /// Where wake processes' output is written while they run.
        public var scratchDirectory = "\(NSTemporaryDirectory())agent-bridge-wakes"

        public init(workspace: String, supervisorID: String, timings: PolicyCatalog.Timings, runtimes: RuntimeCatalog) {
            self.workspace = workspace
            self.supervisorID = supervisorID
            self.timings = timings
            self.runtimes = runtimes
        }
    }

    /// A started attempt handed to the runner group.
    struct Launch: Sendable {
        var claimed: ClaimedAttempt
        var target: String
        var process: WakeProcess
        var stop: AutoResetSignal
    }

    public let configuration: Configuration
    let store: PostgresStore
    let leaderLock: LeaderLock
    let planner: WakePlanner
    let loopGuard: LoopGuard
    let logger: Logger
    /// Rung by the listener, by runners that finish, and by `requestTick()`.
    let doorbell = AutoResetSignal()
    let tickGate = AsyncLock()
    let running = Mutex<[UUID: AutoResetSignal]>([:])
    let launches: AsyncStream<Launch>
    let launchContinuation: AsyncStream<Launch>.Continuation
    let tickCounter = Atomic<Int>(0)
    let completedTicks = Atomic<Int>(0)
    let failedTicks = Atomic<Int>(0)
    /// When `tick.idle` was last logged, and the idle ticks since.
    let idleLog = Mutex<(lastLogged: ContinuousClock.Instant?, count: Int)>((nil, 0))

    public init(configuration: Configuration, store: PostgresStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.leaderLock = LeaderLock(listener: store.listener, workspace: configuration.workspace, logger: logger)
        self.planner = WakePlanner(timings: configuration.timings)
        self.loopGuard = LoopGuard(timings: configuration.timings)
        self.logger = logger
        (launches, launchContinuation) = AsyncStream<Launch>.makeStream()
    }

    /// Whether this supervisor leads now.
    public var isLeader: Bool { leaderLock.isLeading }
    /// Whether this supervisor leads, listens, and its LISTEN connection is up.
    public var isListening: Bool { configuration.listen && leaderLock.isLeading && store.listener.isListening }
    /// The backend pid of the lock and listen connection (diagnosis and drills).
    public var lockBackendPID: Int32? { leaderLock.backendPID }
    /// How many ticks this supervisor has completed (as leader), failed ones included.
    public var ticksCompleted: Int { completedTicks.load(ordering: .relaxed) }
    /// How many of those ticks failed (the database was unreachable, say).
    public var ticksFailed: Int { failedTicks.load(ordering: .relaxed) }
    /// The store this supervisor works on.
    public var database: PostgresStore { store }
    /// How many wake processes this supervisor runs now.
    public var runningWakes: Int { running.withLock { $0.count } }

    /// Asks for a tick as soon as possible (what a post notification does).
    public func requestTick() {
        doorbell.fire()
    }

    public func run() async throws {
        let timings = configuration.timings
        // A post, and every (re)connect of the listener, rings for a tick; ticks happen only while leading.
        let subscription =
            configuration.listen
            ? store.listener.subscribe { event in
                if case .disconnected = event { return }
                self.doorbell.fire()
            }
            : nil
        defer { subscription.map(store.listener.unsubscribe) }
        await withDiscardingTaskGroup { group in
            // The lock and the trigger share the store's one LISTEN connection; this process runs it.
            group.addTask { try? await self.store.listener.run() }
            group.addTask {
                await self.leaderLock.run(
                    listen: self.configuration.listen,
                    retryInterval: timings.pollInterval / 2,
                    events: .init(
                        leadershipChanged: { leading in
                            if !leading && !Task.isCancelled && !Task.isShuttingDownGracefully {
                                self.logger.warning("This supervisor no longer leads.", metadata: ["event": "supervisor.standby"])
                            }
                        },
                        workMayBeDue: { self.doorbell.fire() }
                    )
                )
            }
            group.addTask { await self.tickLoop() }
            for await launch in self.launches.cancelOnGracefulShutdown() {
                group.addTask { await self.runAttempt(launch) }
            }
            // Shutting down: stop the loops and every wake process still running.
            group.cancelAll()
        }
        launchContinuation.finish()
    }

    /// Ticks on every doorbell (after the debounce) and at least every `poll_interval`.
    private func tickLoop() async {
        let timings = configuration.timings
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let rung = await doorbell.wait(timeout: timings.pollInterval)
            if Task.isCancelled { break }
            if rung && timings.triggerDebounce > .zero {
                // Gather a burst of posts into one tick.
                try? await Task.sleep(for: timings.triggerDebounce)
            }
            if leaderLock.isLeading {
                await tick(trigger: rung ? "notify" : "poll")
            }
        }
    }

    /// Hands a claimed attempt to the runner group.
    func launch(_ launch: Launch) {
        running.withLock { $0[launch.claimed.requestID] = launch.stop }
        launchContinuation.yield(launch)
    }

    /// Runs one attempt's process, records how it ended, and rings for a tick to act on it.
    private func runAttempt(_ launch: Launch) async {
        let started = ContinuousClock.now
        let result = await launch.process.run(stop: launch.stop) { sessionID in
            await self.recordSpawnedSession(sessionID, of: launch)
        }
        running.withLock { _ = $0.removeValue(forKey: launch.claimed.requestID) }
        let elapsed = started.duration(to: .now)
        logger.info(
            "Wake process ended.",
            metadata: [
                "event": "wake.process_ended", "wake_id": "\(launch.claimed.requestID.wireString)",
                "participant": "\(launch.target)", "attempt": "\(launch.claimed.attempt)", "action": "\(launch.claimed.action.rawValue)",
                "outcome": "\(result.outcome.rawValue)", "exit_code": "\(result.exitCode.map(String.init) ?? "-")",
                "duration_ms": "\(Int(elapsed.seconds * 1000))",
            ]
        )
        // Recording must not be lost to a brief outage: retry a few times before giving up on it.
        for attempt in 1...5 {
            do throws(BridgeError) {
                try await store.finishWakeAttempt(
                    launch.claimed,
                    target: launch.target,
                    outcome: result.outcome,
                    exitCode: result.exitCode,
                    sessionID: result.sessionID,
                    outputTail: result.outputTail,
                    now: configuration.clock.now(),
                    context: supervisorContext(prefix: "wake")
                )
                break
            } catch {
                logger.warning(
                    "Could not record a wake attempt's end.",
                    metadata: [
                        "event": "wake.record_failed", "reason": "\(error.reason.rawValue)", "try": "\(attempt)",
                    ]
                )
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        doorbell.fire()
    }

    /// Records the session a spawn's output named while it still runs, retrying through a brief outage
    /// (the attempt's end records it again in any case).
    private func recordSpawnedSession(_ sessionID: String, of launch: Launch) async {
        for attempt in 1...5 {
            do throws(BridgeError) {
                try await store.recordSpawnedSession(
                    launch.claimed,
                    target: launch.target,
                    sessionID: sessionID,
                    context: supervisorContext(prefix: "wake")
                )
                logger.info(
                    "Spawned session recorded.",
                    metadata: [
                        "event": "wake.session_recorded", "wake_id": "\(launch.claimed.requestID.wireString)",
                        "participant": "\(launch.target)", "attempt": "\(launch.claimed.attempt)", "session_id": "\(sessionID)",
                    ]
                )
                return
            } catch {
                logger.warning(
                    "Could not record a spawned session.",
                    metadata: [
                        "event": "wake.record_failed", "reason": "\(error.reason.rawValue)", "try": "\(attempt)",
                    ]
                )
                if Task.isCancelled { return }
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    /// The identity the supervisor acts as, with a fresh request id for the audit trail.
    func supervisorContext(prefix: String) -> CallContext {
        let id = UUID().wireString.replacingOccurrences(of: "-", with: "").prefix(20)
        return CallContext(
            identity: Identity(workspace: configuration.workspace, handle: configuration.supervisorID, role: .operator, origin: .supervisor),
            requestID: "\(prefix)_\(id)"
        )
    }
}
