import Synchronization

/// A reusable wake-up flag for one waiter, reset by the wait it ends (an auto-reset event): a ``fire()`` with
/// nobody waiting is remembered for the next ``wait()``, several fires before a wait count as one, and a
/// cancelled wait leaves the signal usable (unlike an `AsyncStream`, which cancellation ends).
///
/// The store's notification hub wakes long polls with it, `serve` waits on it for the client's `initialize`,
/// and the supervisor rings its tick and stops wake processes with it.
public final class AutoResetSignal: Sendable {
    private struct State {
        var pending = false
        var waiting: CheckedContinuation<Bool, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes the current wait, or the next one if nobody is waiting.
    public func fire() {
        let waiting = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let waiting = state.waiting else {
                state.pending = true
                return nil
            }
            state.waiting = nil
            return waiting
        }
        waiting?.resume(returning: true)
    }

    /// Waits until fired (true) or until `timeout` passes (false).
    public func wait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Returns true when fired, false when the calling task is cancelled first. One wait at a time.
    public func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { state -> Bool? in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    // Cancelled before the continuation was installed: the handler below found nothing to resume.
                    if Task.isCancelled { return false }
                    state.waiting = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiting = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                defer { state.waiting = nil }
                return state.waiting
            }
            waiting?.resume(returning: false)
        }
    }
}
