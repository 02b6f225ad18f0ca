import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Leadership among supervisors of one workspace: a session advisory lock held on a dedicated connection,
/// which is also the LISTEN connection for the post notifications (DESIGN §5).
///
/// Standbys retry the lock every `retryInterval`. When the leader dies its connection closes, PostgreSQL
/// drops the lock, and a standby takes it at its next try. A dropped connection ends leadership at once;
/// the lock loop reconnects with backoff.
public final class LeaderLock: Sendable {
    /// What the supervisor hears from the lock loop.
    public struct Events: Sendable {
        /// Leadership was gained (true) or lost (false).
        public var leadershipChanged: @Sendable (Bool) -> Void
        /// The listener (re)connected, or a post was notified: time to look for work.
        public var workMayBeDue: @Sendable () -> Void

        public init(leadershipChanged: @escaping @Sendable (Bool) -> Void, workMayBeDue: @escaping @Sendable () -> Void) {
            self.leadershipChanged = leadershipChanged
            self.workMayBeDue = workMayBeDue
        }
    }

    private struct State {
        var leading = false
        var listening = false
        var backendPID: Int32?
    }

    private let endpoint: DatabaseEndpoint
    private let workspace: String
    private let channel: String
    private let logger: Logger
    private let state = Mutex(State())

    public init(endpoint: DatabaseEndpoint, workspace: String, channel: String = PostgresStore.messageChannel, logger: Logger) {
        self.endpoint = endpoint
        self.workspace = workspace
        self.channel = channel
        self.logger = logger
    }

    /// Whether this process holds the lock now.
    public var isLeading: Bool { state.withLock { $0.leading } }
    /// Whether the LISTEN connection is up (only while leading, and only when listening is on).
    public var isListening: Bool { state.withLock { $0.listening } }
    /// The PostgreSQL backend pid of the lock connection, while connected (for diagnosis and drills).
    public var backendPID: Int32? { state.withLock { $0.backendPID } }

    /// Holds or waits for the lock until cancelled or shut down, reconnecting with backoff.
    public func run(listen: Bool, retryInterval: Duration, events: Events) async {
        var backoff = Duration.milliseconds(100)
        var connectionID = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            connectionID += 1
            var connection: PostgresConnection?
            do {
                let opened = try await PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.next(), configuration: try endpoint.connectionConfiguration(),
                    id: connectionID, logger: quietLogger)
                connection = opened
                try await cancelWhenGracefulShutdown { [self] in
                    try await hold(opened, listen: listen, retryInterval: retryInterval, events: events)
                }
            } catch {
                if !Task.isCancelled && !Task.isShuttingDownGracefully {
                    logger.warning("Supervisor lock connection lost; reconnecting.", metadata: [
                        "event": "listener.disconnected", "error": "\(String(describing: error))"])
                }
            }
            // Closing the connection releases the lock at once for a standby to take.
            try? await connection?.close()
            let wasLeading = endLeadership()
            if wasLeading { events.leadershipChanged(false) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            if wasLeading { backoff = .milliseconds(100) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
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
        if listen {
            try await connection.listen(on: channel) { notifications in
                self.state.withLock { $0.listening = true }
                logger.info("Listening for posts.", metadata: ["event": "listener.connected"])
                // Anything posted while nobody listened is found by a catch-up tick.
                events.workMayBeDue()
                for try await _ in notifications {
                    events.workMayBeDue()
                }
            }
            throw LeaderLockError.listenerEnded
        } else {
            events.workMayBeDue()
            // Without a listener, check now and then that the lock's connection still lives.
            while true {
                try await Task.sleep(for: retryInterval)
                try await connection.query("SELECT 1", logger: quietLogger)
            }
        }
    }

    private func tryLock(_ connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT pg_try_advisory_lock(\(Self.lockClass), hashtext(\(workspace)))", logger: quietLogger)
        for try await acquired in rows.decode(Bool.self) { return acquired }
        return false
    }

    /// Clears the state; returns whether this process was leading.
    private func endLeadership() -> Bool {
        state.withLock { state in
            defer {
                state.leading = false
                state.listening = false
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

enum LeaderLockError: Error {
    case listenerEnded
}
