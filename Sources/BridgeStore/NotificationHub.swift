import BridgeCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Fans out the post NOTIFY to long-polling readers in this process over one dedicated LISTEN connection.
///
/// The connection is opened on the first wait, so processes that never long-poll hold none. Readers
/// register before they query and then wait, so a post committed in between still wakes them; when the
/// listener (re)connects every waiter is woken to query again, so a lost notification loses nothing —
/// unread state is always derived from the tables.
public final class NotificationHub: Service, Sendable {
    /// A registered interest in activity on some threads (or all of them).
    public struct Waiter: Sendable {
        let id: UInt64
        let signal: AutoResetSignal
    }

    private struct Registration {
        let threads: Set<UUID>?
        let signal: AutoResetSignal
    }

    private struct State {
        var nextID: UInt64 = 0
        var registrations: [UInt64: Registration] = [:]
        var demanded = false
        var demandContinuation: AsyncStream<Void>.Continuation?
        var listening = false
    }

    private let client: PostgresClient
    private let channel: String
    private let logger: Logger
    private let state = Mutex(State())
    private let demand: AsyncStream<Void>

    init(client: PostgresClient, channel: String, logger: Logger) {
        self.client = client
        self.channel = channel
        self.logger = logger
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.demand = stream
        state.withLock { $0.demandContinuation = continuation }
    }

    /// Whether the LISTEN connection is up.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Registers interest in `threads` (nil: any thread). Call before querying, then ``wait(_:timeout:)``.
    public func register(threads: Set<UUID>?) -> Waiter {
        let signal = AutoResetSignal()
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.registrations[state.nextID] = Registration(threads: threads, signal: signal)
            if !state.demanded {
                state.demanded = true
                state.demandContinuation?.yield()
            }
            return state.nextID
        }
        return Waiter(id: id, signal: signal)
    }

    /// Waits until activity may have happened for the waiter, or the timeout passes. Returns true when woken.
    public func wait(_ waiter: Waiter, timeout: Duration) async -> Bool {
        await waiter.signal.wait(timeout: timeout)
    }

    /// Removes the waiter.
    public func unregister(_ waiter: Waiter) {
        state.withLock { _ = $0.registrations.removeValue(forKey: waiter.id) }
    }

    /// Wakes the waiters interested in `threadID` (all of them when nil).
    func deliver(threadID: UUID?) {
        state.withLock { state in
            for registration in state.registrations.values {
                if threadID == nil || registration.threads == nil || registration.threads!.contains(threadID!) {
                    registration.signal.fire()
                }
            }
        }
    }

    /// Waits for the first waiter, then holds a LISTEN connection, reconnecting with backoff until shutdown.
    public func run() async throws {
        var demanded = false
        for await _ in demand.cancelOnGracefulShutdown() {
            demanded = true
            break
        }
        guard demanded else { return }
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { [self] in
                    try await client.withConnection { connection in
                        try await connection.listen(on: self.channel) { notifications in
                            self.state.withLock { $0.listening = true }
                            // Anything committed while we were not listening is found by querying again.
                            self.deliver(threadID: nil)
                            for try await notification in notifications {
                                self.deliver(threadID: UUID(uuidString: notification.payload))
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                logger.warning("Notification listener lost its connection; reconnecting.", metadata: ["error": "\(error)"])
            }
            let wasListening = state.withLock { state in
                defer { state.listening = false }
                return state.listening
            }
            // Every waiter queries again now: it finds what was posted, or the outage, instead of waiting out its timer.
            deliver(threadID: nil)
            if wasListening { backoff = .milliseconds(100) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
        state.withLock { $0.listening = false }
    }
}
