import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Leadership among supervisors of one workspace: a session advisory lock held on the process's
/// ``NotificationListener`` connection, which is also the LISTEN connection for the post notifications (ARCHITECTURE.md, Supervisor).
///
/// Standbys retry the lock every `retryInterval`. When the leader dies its connection closes, PostgreSQL
/// drops the lock, and a standby takes it at its next try. A dropped connection ends leadership at once;
/// the listener reconnects with backoff, and the lock is tried again on the new connection.
public final class LeaderLock: Sendable {
    /// What the supervisor hears from the lock loop.
    public struct Events: Sendable {
        /// Leadership was gained (true) or lost (false).
        public var leadershipChanged: @Sendable (Bool) -> Void
        /// Leadership was gained: time to look for work.
        public var workMayBeDue: @Sendable () -> Void

        public init(leadershipChanged: @escaping @Sendable (Bool) -> Void, workMayBeDue: @escaping @Sendable () -> Void) {
            self.leadershipChanged = leadershipChanged
            self.workMayBeDue = workMayBeDue
        }
    }

    private struct State {
        var leading = false
        var backendPID: Int32?
    }

    private let listener: NotificationListener
    private let workspace: String
    private let logger: Logger
    private let state = Mutex(State())

    public init(listener: NotificationListener, workspace: String, logger: Logger) {
        self.listener = listener
        self.workspace = workspace
        self.logger = logger
    }

    /// Whether this process holds the lock now.
    public var isLeading: Bool { state.withLock { $0.leading } }
    /// The PostgreSQL backend pid of the lock connection, while connected (for diagnosis and drills).
    public var backendPID: Int32? { state.withLock { $0.backendPID } }

    /// Holds or waits for the lock on each of the listener's connections until cancelled or shut down.
    /// `listen` says whether the connection LISTENs (its end is then noticed at once); without it the lock's
    /// connection is checked every `retryInterval`.
    public func run(listen: Bool, retryInterval: Duration, events: Events) async {
        await listener.withEachConnection { connection in
            do {
                try await cancelWhenGracefulShutdown { [self] in
                    try await hold(connection, listen: listen, retryInterval: retryInterval, events: events)
                }
            } catch {
                if !Task.isCancelled && !Task.isShuttingDownGracefully && !connection.isClosed {
                    logger.warning(
                        "Supervisor lock failed; reconnecting.",
                        metadata: [
                            "event": "supervisor.lock_failed", "error": "\(String(describing: error))",
                        ]
                    )
                }
            }
            // The listener closes the connection now, which releases the lock at once for a standby to take.
            if endLeadership() { events.leadershipChanged(false) }
        }
        if endLeadership() { events.leadershipChanged(false) }
    }

    private func hold(_ connection: PostgresConnection, listen: Bool, retryInterval: Duration, events: Events) async throws {
        for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: quietLogger).decode(Int32.self) {
            state.withLock { $0.backendPID = pid }
        }
        while !(try await tryLock(connection)) {
            try await Task.sleep(for: retryInterval)
        }
        state.withLock { $0.leading = true }
        logger.notice("This supervisor leads.", metadata: ["event": "supervisor.leader", "workspace": "\(workspace)"])
        events.leadershipChanged(true)
        // Anything posted while nobody led is found by a catch-up tick.
        events.workMayBeDue()
        if listen {
            try await NotificationListener.closed(connection)
        } else {
            // Without a listener, check now and then that the lock's connection still lives.
            while true {
                try await Task.sleep(for: retryInterval)
                try await connection.query("SELECT 1", logger: quietLogger)
            }
        }
    }

    private func tryLock(_ connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT pg_try_advisory_lock(\(Self.lockClass), hashtext(\(workspace)))",
            logger: quietLogger
        )
        for try await acquired in rows.decode(Bool.self) { return acquired }
        return false
    }

    /// Clears the state; returns whether this process was leading.
    private func endLeadership() -> Bool {
        state.withLock { state in
            defer {
                state.leading = false
                state.backendPID = nil
            }
            return state.leading
        }
    }

    /// The advisory lock's first key: "ABsp" — agent-bridge supervisor.
    static let lockClass: Int32 = 0x4142_7370

    private var quietLogger: Logger {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        return quiet
    }
}
