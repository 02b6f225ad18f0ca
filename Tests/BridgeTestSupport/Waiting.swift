import Foundation

/// Waits for a condition on state, checking every 50 ms; throws ``WaitTimedOut`` (which fails the test, naming
/// what was awaited) after `timeout`.
public func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw WaitTimedOut(what: what)
}

/// A ``waitUntil(_:timeout:_:)`` that ran out of time.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "Timed out waiting until \(what)." }
}

extension TestDatabase {
    /// The fake `codex`, `claude` and `agent-bridge-wake` runtimes that the supervisor tests put on PATH.
    public static let fakeRuntimesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BridgeSupervisorTests/Fixtures/bin").path
}
