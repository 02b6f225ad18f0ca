import Synchronization

/// Decides, once, whether a write sends its COMMIT or is abandoned by a caller that stopped waiting; what that caller
/// is told depends on which came first.
final class CommitGate: Sendable {
    private enum Phase { case working, committing, abandoned }
    private let phase = Mutex(Phase.working)

    init() {}

    /// Called just before COMMIT is sent; false when the caller was already answered (then roll back instead).
    func beginCommit() -> Bool {
        phase.withLock { phase in
            guard phase == .working else { return false }
            phase = .committing
            return true
        }
    }

    /// Called when the caller stops waiting; returns whether the COMMIT may already be on its way.
    func abandon() -> Bool {
        phase.withLock { phase in
            if phase == .working { phase = .abandoned }
            return phase == .committing
        }
    }
}
