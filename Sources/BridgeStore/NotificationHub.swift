import BridgeCore
import Foundation
import ServiceLifecycle
import Synchronization

/// Fans out the post NOTIFY to long-polling readers in this process, through the process's ``NotificationListener``.
///
/// The hub subscribes on the first wait, so processes that never long-poll hold no LISTEN connection. Readers
/// register before they query and then wait, so a post committed in between still wakes them; when the
/// listener (re)connects or loses its connection every waiter is woken to query again, so a lost notification
/// loses nothing — unread state is always derived from the tables.
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
        var subscribed = false
    }

    /// The LISTEN connection the hub's waiters hear posts through.
    public let listener: NotificationListener
    private let state = Mutex(State())

    init(listener: NotificationListener) {
        self.listener = listener
    }

    /// Whether the LISTEN connection is up.
    public var isListening: Bool { listener.isListening }

    /// Registers interest in `threads` (nil: any thread). Call before querying, then ``wait(_:timeout:)``.
    public func register(threads: Set<UUID>?) -> Waiter {
        let signal = AutoResetSignal()
        let (id, subscribe) = state.withLock { state -> (UInt64, Bool) in
            state.nextID += 1
            state.registrations[state.nextID] = Registration(threads: threads, signal: signal)
            defer { state.subscribed = true }
            return (state.nextID, !state.subscribed)
        }
        if subscribe {
            _ = listener.subscribe { [weak self] event in self?.receive(event) }
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

    private func receive(_ event: NotificationListener.Event) {
        switch event {
        case .notified(let payload):
            deliver(threadID: UUID(uuidString: payload))
        case .connected, .disconnected:
            // Anything committed while nobody listened, or the outage itself, is found by querying again now,
            // instead of waiting out the timer.
            deliver(threadID: nil)
        }
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

    /// Runs the hub's ``listener``: it connects once the first waiter registers.
    public func run() async throws {
        try await listener.run()
    }
}
