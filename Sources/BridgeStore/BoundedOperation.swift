import BridgeCore
import PostgresNIO
import Synchronization

/// Runs an operation with a hard bound on how long its caller waits.
///
/// A task group would wait for its children, and a PostgresNIO query in flight (or a pool lease while the server
/// restarts) does not end on cancellation: the caller would wait as long as the driver does. Here the operation runs
/// in a task of its own; when the time is up the caller is answered at once and the operation is cancelled and left
/// to finish by itself, releasing its connection when it does.
enum BoundedOperation {
    /// - Parameter abandon: called once when the time is up or the caller is cancelled, before the operation is;
    ///   returns the error for the caller.
    static func run<Value: Sendable>(
        within timeout: Duration,
        abandon: @escaping @Sendable () -> BridgeError,
        _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let outcome = SingleOutcome<Value>()
        let work = Task { outcome.settle(await Result(catching: operation)) }
        // A timer on an event loop, not a sleeping task: a cancelled `Task.sleep` keeps its task and dispatch timer
        // allocated until the deadline would have passed, about 1 KB per operation that a busy `serve` piled up by
        // the megabyte (README, Service levels, Memory). A cancelled NIO timer is gone at once.
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            if outcome.settle({ .failure(abandon()) }) { work.cancel() }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            if outcome.settle({
                _ = abandon()
                return .failure(CancellationError())
            }) {
                work.cancel()
            }
        }
    }
}

/// A result that is settled once; later settlements are ignored. One waiter.
final class SingleOutcome<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiter: CheckedContinuation<Value, any Error>?
    }

    private let state = Mutex(State())

    /// Settles the outcome; returns false when it was already settled.
    @discardableResult
    func settle(_ result: Result<Value, any Error>) -> Bool {
        settle { result }
    }

    /// Settles the outcome with what `make` returns, called only if nothing settled it first.
    @discardableResult
    func settle(_ make: () -> Result<Value, any Error>) -> Bool {
        let settled = state.withLock { state -> (Result<Value, any Error>, CheckedContinuation<Value, any Error>?)? in
            guard state.result == nil else { return nil }
            let result = make()
            state.result = result
            defer { state.waiter = nil }
            return (result, state.waiter)
        }
        guard let (result, waiter) = settled else { return false }
        waiter?.resume(with: result)
        return true
    }

    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at `Int64.max`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return whole.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : whole + attoseconds / 1_000_000_000
    }
}
