import BridgeCore
import BridgeStore
import Foundation
import Logging

/// What one tick did.
public struct TickReport: Sendable, Hashable {
    public var ticketsEscalated = 0
    public var ticketsExpired = 0
    public var threadsBlocked = 0
    public var wakesCreated = 0
    public var wakesStarted = 0
    public var wakesFinished = 0
    public var wakesRetried = 0
    public var wakesDeferred = 0
    /// Due attempts left for a later tick because `max_concurrent_wakes` processes already run.
    public var wakesWaitingForCapacity = 0
    /// Set when the tick could not complete (the database was unreachable, say).
    public var failure: Reason?

    public init() {}

    /// Whether the tick changed anything.
    public var isIdle: Bool {
        ticketsEscalated + ticketsExpired + threadsBlocked + wakesCreated + wakesStarted + wakesFinished + wakesRetried + wakesDeferred == 0
    }
}

extension Supervisor {
    /// One pass over the workspace, as the leader: approval sweeps, loop guards, new wake requests, and the
    /// next step of every due request. Ticks run one at a time. Public for tests and drills, which drive
    /// time with a ``ManualWallClock``; a standby does nothing.
    @discardableResult
    public func tick(trigger: String = "manual") async -> TickReport {
        await tickGate.withLock {
            guard leaderLock.isLeading else { return TickReport() }
            let started = ContinuousClock.now
            let number = tickCounter.add(1, ordering: .relaxed).newValue
            var report = TickReport()
            do throws(BridgeError) {
                try await runTick(into: &report)
            } catch {
                report.failure = error.reason
                failedTicks.add(1, ordering: .relaxed)
            }
            log(report, number: number, trigger: trigger, elapsed: started.duration(to: .now))
            completedTicks.add(1, ordering: .relaxed)
            return report
        }
    }

    private func runTick(into report: inout TickReport) async throws(BridgeError) {
        let now = configuration.clock.now()
        let context = supervisorContext(prefix: "tick")
        let timings = configuration.timings

        let (escalated, expired) = try await store.sweepApprovals(now: now, context: context)
        report.ticketsEscalated = escalated
        report.ticketsExpired = expired

        let blocked = try await store.runLoopGuards(loopGuard, context: context)
        report.threadsBlocked = blocked.count
        for block in blocked {
            logger.notice(
                "Loop guard blocked a thread.",
                metadata: [
                    "event": "loop_guard.tripped", "thread_id": "\(block.threadID.wireString)", "reason": "\(block.trip.reason.rawValue)",
                ]
            )
        }

        report.wakesCreated = try await store.discoverWakeWork(now: now, freshWindow: timings.heartbeatFreshWindow, context: context)

        for wake in try await store.openWakes(now: now, workspace: configuration.workspace) {
            let step = planner.nextStep(wake.facts, now: now)
            switch step {
            case .wait:
                continue
            case .start(let action):
                guard runningWakes < timings.maxConcurrentWakes else {
                    report.wakesWaitingForCapacity += 1
                    continue
                }
                if try await start(wake, action: action, now: now, context: context) { report.wakesStarted += 1 }
            case .finish(let state, let reason):
                if try await store.applyWakeStep(step, to: wake, now: now, context: context) {
                    report.wakesFinished += 1
                    // An acked session keeps running its turn; only a request given up on stops its process.
                    if state == .dead { stopProcess(of: wake) }
                    logWake(wake, event: "wake.\(state.rawValue)", reason: reason)
                }
            case .retry(let next, let at, let reason):
                if try await store.applyWakeStep(step, to: wake, now: now, context: context) {
                    report.wakesRetried += 1
                    stopProcess(of: wake)
                    // A retry due at once (resume failed: spawn now) runs in the next tick, not the next poll.
                    if at <= now { doorbell.fire() }
                    logWake(wake, event: "wake.retry", reason: reason, extra: ["next_action": "\(next.rawValue)"])
                }
            case .deferUntil(_, _, let reason):
                if try await store.applyWakeStep(step, to: wake, now: now, context: context) {
                    report.wakesDeferred += 1
                    if wake.facts.state != .deferred || wake.deferReason != reason { logWake(wake, event: "wake.deferred", reason: reason) }
                }
            }
        }
    }

    /// Claims the attempt and hands its process to the runners. False when another supervisor got there first.
    private func start(_ wake: OpenWake, action requested: WakeAction, now: Date, context: CallContext) async throws(BridgeError) -> Bool {
        let runtime = configuration.runtimes.runtimes[wake.facts.runtime.kind]
        // A runtime that cannot resume is always spawned.
        let action: WakeAction = requested == .resume && runtime?.resume == nil ? .spawn : requested
        let template = (action == .resume ? runtime?.resume : runtime?.spawn) ?? []
        let threadID = wake.threadID.wireString
        let workdir = wake.facts.runtime.workdir ?? configuration.defaultWorkdir
        let values = RuntimeCatalog.Values(
            handle: wake.target,
            threadID: threadID,
            seq: wake.triggerSeq,
            sessionID: wake.facts.runtime.sessionID,
            prompt: RuntimeCatalog.wakePrompt(handle: wake.target, threadID: threadID, seq: wake.triggerSeq, cursor: wake.cursorSeq),
            workdir: workdir,
            requestID: wake.id.wireString
        )
        let argv = RuntimeCatalog.expand(template, with: values)
        guard let claimed = try await store.claimWakeAttempt(wake, action: action, argv: argv, now: now, context: context) else { return false }

        var environment = ProcessInfo.processInfo.environment
        environment.merge(configuration.wakeEnvironment) { $1 }
        // Who the woken agent is, in the variables `agent-bridge serve` reads: the server its CLI mounts
        // identifies it without flags of its own.
        environment["AGENT_BRIDGE_PARTICIPANT"] = wake.target
        environment["AGENT_BRIDGE_ROLE"] = wake.role.rawValue
        environment["AGENT_BRIDGE_WORKSPACE"] = configuration.workspace
        environment["AGENT_BRIDGE_WAKE_THREAD_ID"] = threadID
        environment["AGENT_BRIDGE_WAKE_SEQ"] = String(wake.triggerSeq)
        environment["AGENT_BRIDGE_WAKE_REQUEST_ID"] = values.requestID
        let process = WakeProcess(
            argv: argv,
            environment: environment,
            workdir: workdir,
            timeout: runtime?.timeout ?? .seconds(1800),
            sessionIDSource: action == .spawn ? runtime?.sessionID : nil,
            outputTailBytes: configuration.outputTailBytes,
            scratchDirectory: configuration.scratchDirectory
        )
        launch(Launch(claimed: claimed, target: wake.target, process: process, stop: AutoResetSignal()))
        logWake(
            wake,
            event: "wake.triggered",
            reason: nil,
            extra: [
                "attempt": "\(claimed.attempt)", "action": "\(action.rawValue)", "runtime": "\(wake.facts.runtime.kind.rawValue)",
            ]
        )
        return true
    }

    /// Stops the request's process if this supervisor runs it (its request moved on without it).
    private func stopProcess(of wake: OpenWake) {
        running.withLock { $0[wake.id] }?.fire()
    }

    private func logWake(_ wake: OpenWake, event: String, reason: Reason?, extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = [
            "event": "\(event)", "wake_id": "\(wake.id.wireString)", "participant": "\(wake.target)",
            "thread_id": "\(wake.threadID.wireString)", "trigger_seq": "\(wake.triggerSeq)",
        ]
        if let reason { metadata["reason"] = "\(reason.rawValue)" }
        metadata.merge(extra) { $1 }
        logger.info("Wake request changed.", metadata: metadata)
    }

    private func log(_ report: TickReport, number: Int, trigger: String, elapsed: Duration) {
        let milliseconds = elapsed.seconds * 1000
        var metadata: Logger.Metadata = ["tick": "\(number)", "trigger": "\(trigger)", "duration_ms": "\(String(format: "%.2f", milliseconds))"]
        if let failure = report.failure {
            metadata["event"] = "tick.failed"
            metadata["reason"] = "\(failure.rawValue)"
            logger.warning("Tick failed; the next one retries.", metadata: metadata)
            return
        }
        if report.isIdle {
            // One line a minute says the loop is alive without filling the log every poll_interval.
            let idleTicks = idleLog.withLock { idle -> Int? in
                idle.count += 1
                let now = ContinuousClock.now
                if let last = idle.lastLogged, last.duration(to: now) < .seconds(60) { return nil }
                defer { idle = (now, 0) }
                return idle.count
            }
            guard let idleTicks else { return }
            metadata["event"] = "tick.idle"
            metadata["idle_ticks"] = "\(idleTicks)"
            logger.info("Ticks found nothing to do.", metadata: metadata)
            return
        }
        metadata["event"] = "tick.completed"
        metadata["tickets_escalated"] = "\(report.ticketsEscalated)"
        metadata["tickets_expired"] = "\(report.ticketsExpired)"
        metadata["threads_blocked"] = "\(report.threadsBlocked)"
        metadata["wakes_created"] = "\(report.wakesCreated)"
        metadata["wakes_started"] = "\(report.wakesStarted)"
        metadata["wakes_finished"] = "\(report.wakesFinished)"
        metadata["wakes_retried"] = "\(report.wakesRetried)"
        metadata["wakes_deferred"] = "\(report.wakesDeferred)"
        logger.info("Tick completed.", metadata: metadata)
    }
}
