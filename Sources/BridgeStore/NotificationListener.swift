import BridgeCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The process's one dedicated LISTEN connection for the post notifications, and its one reconnect-with-backoff loop.
///
/// Everything that hears about posts subscribes here: the long-poll fan-out (``NotificationHub``) and the supervisor's
/// trigger through ``subscribe(_:)``; the supervisor's ``LeaderLock`` holds its advisory lock on the same connection
/// through ``withEachConnection(_:)`` (ARCHITECTURE.md, Supervisor). The connection is opened on the first demand, so a process that
/// never long-polls or supervises holds none, and LISTEN is sent once someone subscribes (a supervisor that does not
/// listen holds the connection for its lock alone).
///
/// Run it as a `Service`; ``NotificationHub`` and ``Supervisor`` run it for their users. A second run while one
/// runs opens nothing and waits for the shutdown.
public final class NotificationListener: Service, Sendable {
    /// What a subscriber hears.
    public enum Event: Sendable {
        /// LISTEN is up, after a start or a reconnect: anything may have been posted while it was not.
        case connected
        /// A post was notified; the payload is its thread id.
        case notified(payload: String)
        /// The connection was lost; the listener reconnects with backoff.
        case disconnected
    }

    /// A subscription, to end with ``unsubscribe(_:)``.
    public struct Subscription: Sendable, Hashable {
        let id: UInt64
    }

    private struct State {
        var nextID: UInt64 = 0
        var subscribers: [UInt64: @Sendable (Event) -> Void] = [:]
        /// Those in ``withEachConnection(_:)``, each with the signal rung when the connection changes.
        var connectionUsers: [UInt64: AutoResetSignal] = [:]
        var running = false
        var connection: (id: Int, connection: PostgresConnection)?
        var listening = false

        var hasDemand: Bool { !subscribers.isEmpty || !connectionUsers.isEmpty }
    }

    private let endpoint: DatabaseEndpoint
    private let channel: String
    private let logger: Logger
    private let state = Mutex(State())
    /// Rung when someone subscribes or asks for the connection.
    private let demandChanged = AutoResetSignal()
    /// Rung when someone subscribes, for a connection that does not LISTEN yet.
    private let subscribersChanged = AutoResetSignal()

    public init(endpoint: DatabaseEndpoint, channel: String = PostgresStore.messageChannel, logger: Logger) {
        self.endpoint = endpoint
        self.channel = channel
        self.logger = logger
    }

    /// Whether the connection is up and LISTENing.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Calls `handler` with every event from now on, on the listener's task: it must return quickly.
    public func subscribe(_ handler: @escaping @Sendable (Event) -> Void) -> Subscription {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.subscribers[state.nextID] = handler
            return state.nextID
        }
        demandChanged.fire()
        subscribersChanged.fire()
        return Subscription(id: id)
    }

    /// Ends a subscription.
    public func unsubscribe(_ subscription: Subscription) {
        state.withLock { _ = $0.subscribers.removeValue(forKey: subscription.id) }
    }

    /// Runs `session` with each connection the listener opens, one at a time, until the calling task is cancelled or
    /// the process shuts down.
    ///
    /// The connection is closed when `session` returns, so whatever it held there (a session advisory lock) goes with
    /// it; the listener then reconnects with its backoff. `session` should return when the connection closes.
    public func withEachConnection(_ session: @Sendable (PostgresConnection) async -> Void) async {
        let signal = AutoResetSignal()
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.connectionUsers[state.nextID] = signal
            return state.nextID
        }
        defer { state.withLock { _ = $0.connectionUsers.removeValue(forKey: id) } }
        demandChanged.fire()
        var lastConnection = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let (connectionID, connection) = state.withLock({ $0.connection }), connectionID > lastConnection {
                lastConnection = connectionID
                await session(connection)
                try? await connection.close()
                continue
            }
            guard await cancelWhenGracefulShutdown({ await signal.wait() }) else { break }
        }
    }

    /// Waits for the first demand, then holds the connection, reconnecting with backoff until shutdown.
    public func run() async throws {
        let first = state.withLock { state in
            defer { state.running = true }
            return !state.running
        }
        guard first else {
            // The connection is the other run's; this one only keeps its service running until the shutdown.
            try? await gracefulShutdown()
            return
        }
        defer { state.withLock { $0.running = false } }
        while !state.withLock({ $0.hasDemand }) {
            guard await cancelWhenGracefulShutdown({ await self.demandChanged.wait() }) else { return }
        }
        var backoff = Duration.milliseconds(100)
        var connectionID = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            connectionID += 1
            var opened: PostgresConnection?
            var openedAt = ContinuousClock.now
            do {
                let connection = try await PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.next(),
                    configuration: try endpoint.connectionConfiguration(),
                    id: connectionID,
                    logger: quietLogger
                )
                opened = connection
                openedAt = .now
                let id = connectionID
                try await cancelWhenGracefulShutdown { [self] in try await hold(connection, id: id) }
            } catch {
                if !Task.isCancelled && !Task.isShuttingDownGracefully {
                    logger.warning(
                        "Notification listener lost its connection; reconnecting.",
                        metadata: [
                            "event": "listener.disconnected", "error": "\(String(describing: error))",
                        ]
                    )
                }
            }
            try? await opened?.close()
            endConnection()
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            // Reconnect soon after a connection that lasted; back off while connecting, or holding on, keeps failing.
            if opened != nil && openedAt.duration(to: .now) >= .seconds(1) { backoff = .milliseconds(100) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
        endConnection()
    }

    /// Offers `connection` to the connection users and LISTENs on it once someone subscribes; throws when the
    /// connection closes or the LISTEN ends.
    private func hold(_ connection: PostgresConnection, id: Int) async throws {
        let users = state.withLock { state in
            state.connection = (id, connection)
            return Array(state.connectionUsers.values)
        }
        for user in users { user.fire() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await Self.closed(connection)
                throw NotificationListenerError.connectionClosed
            }
            group.addTask {
                while self.state.withLock({ $0.subscribers.isEmpty }) {
                    guard await self.subscribersChanged.wait() else { throw CancellationError() }
                }
                try await connection.listen(on: self.channel) { notifications in
                    self.state.withLock { $0.listening = true }
                    self.logger.info("Listening for posts.", metadata: ["event": "listener.connected"])
                    self.publish(.connected)
                    for try await notification in notifications {
                        self.publish(.notified(payload: notification.payload))
                    }
                }
                throw NotificationListenerError.listenEnded
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Forgets the connection and tells everyone it is gone.
    private func endConnection() {
        let users = state.withLock { state in
            state.connection = nil
            state.listening = false
            return Array(state.connectionUsers.values)
        }
        for user in users { user.fire() }
        publish(.disconnected)
    }

    private func publish(_ event: Event) {
        let handlers = state.withLock { Array($0.subscribers.values) }
        for handler in handlers { handler(event) }
    }

    /// Returns when `connection` has closed; throws `CancellationError` when the task is cancelled first
    /// (waiting on the close future alone would not end on cancellation).
    static func closed(_ connection: PostgresConnection) async throws {
        let outcome = SingleOutcome<Void>()
        connection.closeFuture.whenComplete { _ in outcome.settle(.success(())) }
        try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            outcome.settle(.failure(CancellationError()))
        }
    }

    private var quietLogger: Logger {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        return quiet
    }
}

enum NotificationListenerError: Error {
    case connectionClosed
    case listenEnded
}
