import Foundation

/// What the supervisor knows about one open wake request when it decides the next step.
public struct WakeFacts: Sendable, Hashable {
    public var requestID: UUID
    public var state: WakeState
    public var action: WakeAction
    public var resumeFailures: Int
    public var spawnFailures: Int
    public var deferredSince: Date?
    /// When the current attempt started, on the supervisor's clock.
    public var triggeredAt: Date?
    /// The current attempt's outcome, when one was started.
    public var attemptOutcome: WakeAttempt.Outcome?
    /// Whether the target made an authenticated call after the current attempt started.
    public var acknowledged: Bool
    public var runtime: RuntimeDescriptor
    public var presence: Presence
    /// The latest heartbeat or authenticated call of the target.
    public var lastActivityAt: Date?
    public var lastHumanInputAt: Date?
    public var threadAutonomous: Bool
    /// Whether the target has read up to the request's seq by itself.
    public var caughtUp: Bool
    /// Whether an `agent-bridge serve` of the target holds a live session lease: its session is open.
    public var liveSession: Bool

    public init(
        requestID: UUID,
        state: WakeState,
        action: WakeAction,
        resumeFailures: Int = 0,
        spawnFailures: Int = 0,
        deferredSince: Date? = nil,
        triggeredAt: Date? = nil,
        attemptOutcome: WakeAttempt.Outcome? = nil,
        acknowledged: Bool = false,
        runtime: RuntimeDescriptor,
        presence: Presence = .active,
        lastActivityAt: Date? = nil,
        lastHumanInputAt: Date? = nil,
        threadAutonomous: Bool = false,
        caughtUp: Bool = false,
        liveSession: Bool = false
    ) {
        self.requestID = requestID
        self.state = state
        self.action = action
        self.resumeFailures = resumeFailures
        self.spawnFailures = spawnFailures
        self.deferredSince = deferredSince
        self.triggeredAt = triggeredAt
        self.attemptOutcome = attemptOutcome
        self.acknowledged = acknowledged
        self.runtime = runtime
        self.presence = presence
        self.lastActivityAt = lastActivityAt
        self.lastHumanInputAt = lastHumanInputAt
        self.threadAutonomous = threadAutonomous
        self.caughtUp = caughtUp
        self.liveSession = liveSession
    }
}

/// The next step for a wake request.
public enum WakeStep: Sendable, Hashable {
    /// Nothing to do yet (an attempt is running inside its ack window, or the request is not due).
    case wait
    /// Start a runtime process now.
    case start(WakeAction)
    /// Hold the request until the date: a human is typing at the target's terminal (`HUMAN_INPUT_COLLISION`), or
    /// its session is open (`SESSION_LIVE`).
    case deferUntil(Date, since: Date, reason: Reason)
    /// The current attempt failed; try `next` at `at`. The failed attempt's action counts one more failure.
    case retry(next: WakeAction, at: Date, reason: Reason)
    /// The request ends in `state` for `reason`.
    case finish(WakeState, reason: Reason)
}

/// The wake lifecycle (ARCHITECTURE.md, Supervisor) as a pure function of the facts, the catalog's timings and the time.
///
/// The same facts, timings and time always give the same step, so the lifecycle is tested on a virtual
/// clock and a recorded incident replays to the same decisions.
public struct WakePlanner: Sendable {
    public var timings: PolicyCatalog.Timings

    public init(timings: PolicyCatalog.Timings) {
        self.timings = timings
    }

    /// Whether a target with these facts is active now: it says so and called in within `heartbeat_fresh_window`.
    public func isActive(presence: Presence, lastActivityAt: Date?, now: Date) -> Bool {
        guard presence == .active, let lastActivityAt else { return false }
        return now.timeIntervalSince(lastActivityAt) <= timings.heartbeatFreshWindow.seconds
    }

    public func nextStep(_ facts: WakeFacts, now: Date) -> WakeStep {
        switch facts.state {
        case .pending, .deferred:
            return stepForDueRequest(facts, now: now)
        case .triggered:
            return stepForRunningAttempt(facts, now: now)
        default:
            return .wait
        }
    }

    private func stepForDueRequest(_ facts: WakeFacts, now: Date) -> WakeStep {
        let neverAttempted = facts.resumeFailures == 0 && facts.spawnFailures == 0
        if facts.caughtUp {
            return neverAttempted ? .finish(.alreadyActive, reason: .participantActive) : .finish(.acked, reason: .wakeAcknowledged)
        }
        if isActive(presence: facts.presence, lastActivityAt: facts.lastActivityAt, now: now) {
            // Active before any attempt: nothing to start. Active between retries: the target woke by itself.
            return neverAttempted ? .finish(.alreadyActive, reason: .participantActive) : .finish(.acked, reason: .wakeAcknowledged)
        }
        if !facts.runtime.managed {
            return .finish(.failed, reason: .unmanagedRuntimeTarget)
        }
        if facts.liveSession {
            // Never a second writer on an open session: its messages reach it there. Re-checked until it acks
            // them or the session ends, with no deadline, since the session may stay open for hours.
            return .deferUntil(
                now.addingTimeInterval(timings.deferredRecheckInterval.seconds),
                since: facts.deferredSince ?? now,
                reason: .sessionLive
            )
        }
        if let humanInput = facts.lastHumanInputAt, now.timeIntervalSince(humanInput) < timings.humanQuietWindow.seconds {
            let since = facts.deferredSince ?? now
            if now.timeIntervalSince(since) >= timings.maxDeferWindow.seconds {
                return .finish(.deferredTimeout, reason: .deferWindowExceeded)
            }
            return .deferUntil(now.addingTimeInterval(timings.deferredRecheckInterval.seconds), since: since, reason: .humanInputCollision)
        }
        return .start(actionFor(facts, now: now))
    }

    /// Resume when there is a session to resume and it is not stale; otherwise spawn.
    private func actionFor(_ facts: WakeFacts, now: Date) -> WakeAction {
        if facts.action == .spawn || facts.runtime.sessionID == nil { return .spawn }
        if let last = facts.lastActivityAt, now.timeIntervalSince(last) > timings.staleSessionCutoff.seconds { return .spawn }
        return .resume
    }

    private func stepForRunningAttempt(_ facts: WakeFacts, now: Date) -> WakeStep {
        if facts.acknowledged {
            return facts.action == .spawn ? .finish(.fallbackSpawned, reason: .wakeAcknowledged) : .finish(.acked, reason: .wakeAcknowledged)
        }
        let failure: Reason
        switch facts.attemptOutcome {
        case .failed?, .notStarted?:
            failure = .wakeCommandFailed
        case .exited?, .stopped?:
            failure = .wakeNotAcknowledged
        case .running?, nil:
            guard let started = facts.triggeredAt, now.timeIntervalSince(started) >= timings.triggerAckTimeout.seconds else { return .wait }
            failure = .wakeNotAcknowledged
        }
        switch facts.action {
        case .resume:
            let failures = facts.resumeFailures + 1
            if failures >= timings.resumeAttemptsBeforeSpawn {
                return .retry(next: .spawn, at: now, reason: failure)
            }
            return .retry(next: .resume, at: now.addingTimeInterval(backoff(failures: failures, requestID: facts.requestID)), reason: failure)
        case .spawn:
            let failures = facts.spawnFailures + 1
            if failures > timings.triggerRetriesBeforeFallback {
                return .finish(.dead, reason: .wakeRetriesExhausted)
            }
            return .retry(next: .spawn, at: now.addingTimeInterval(backoff(failures: failures, requestID: facts.requestID)), reason: failure)
        }
    }

    /// Exponential backoff from 2 s, capped at 60 s, with ±20 % jitter derived from the request id,
    /// so replays decide the same times.
    public func backoff(failures: Int, requestID: UUID) -> TimeInterval {
        let base = min(2.0 * pow(2.0, Double(max(failures - 1, 0))), 60)
        var hash: UInt64 = 1_469_598_103_934_665_603
        for byte in withUnsafeBytes(of: requestID.uuid, Array.init) + [UInt8(truncatingIfNeeded: failures)] {
            hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211
        }
        let jitter = 0.8 + 0.4 * Double(hash % 10_000) / 10_000
        return base * jitter
    }
}
