import BridgeCore
import Foundation
import PostgresNIO
import Synchronization

/// Counts the calls every step makes and the errors they get, by step and code, across concurrent writers.
final class ErrorTally: Sendable {
    /// What kind of call was counted; the service levels' success rates are per kind.
    enum Kind: String, Sendable {
        case post, read, rawPost, rawRead
        /// A wake that did not start, a serve that did not answer or failed a wire call that is neither post
        /// nor read: failures only, no call count.
        case wake, serve
    }

    private struct State {
        var calls: [Kind: Int] = [:]
        var failures: [Kind: Int] = [:]
        var byStep: [String: [String: Int]] = [:]
    }

    private let state = Mutex(State())

    /// Adds `calls` calls of `kind` made by `step`, with their failures by code.
    func add(step: String, kind: Kind, calls: Int, failures: [String: Int] = [:]) {
        state.withLock { state in
            state.calls[kind, default: 0] += calls
            for (code, count) in failures where count > 0 {
                state.failures[kind, default: 0] += count
                state.byStep[step, default: [:]][code, default: 0] += count
            }
        }
    }

    /// Records one call and its outcome.
    func record(step: String, kind: Kind, error: (any Error)?) {
        add(step: step, kind: kind, calls: 1, failures: error.map { [Self.code(of: $0): 1] } ?? [:])
    }

    func calls(_ kind: Kind) -> Int { state.withLock { $0.calls[kind] ?? 0 } }
    func failures(_ kind: Kind) -> Int { state.withLock { $0.failures[kind] ?? 0 } }

    /// Failures of `step`, all codes.
    func failures(step: String) -> Int { state.withLock { $0.byStep[step]?.values.reduce(0, +) ?? 0 } }

    var counts: BenchReport.ErrorCounts {
        state.withLock { state in
            BenchReport.ErrorCounts(
                total: state.byStep.values.flatMap(\.values).reduce(0, +),
                byStep: state.byStep,
                posts: (state.calls[.post] ?? 0) + (state.calls[.rawPost] ?? 0),
                reads: state.calls[.read] ?? 0
            )
        }
    }

    /// The code an error is counted under: the `BridgeError` code, `SQLSTATE xxxxx` for the raw statement,
    /// else the error's type.
    static func code(of error: any Error) -> String {
        if let error = error as? BridgeError { return error.code.rawValue }
        if let error = error as? PSQLError {
            return error.serverInfo?[.sqlState].map { "SQLSTATE \($0)" } ?? "PSQL \(error.code)"
        }
        return String(describing: type(of: error))
    }
}
