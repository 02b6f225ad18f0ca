/// A thread's lifecycle: `active` ⇄ `blocked` → `closed` (ARCHITECTURE.md, Domain).
public enum ThreadStatus: String, Sendable, Codable, CaseIterable {
    case active, blocked, closed

    /// A requested change of status.
    public enum Transition: String, Sendable, Codable, CaseIterable {
        /// `active → blocked`, by an agent, an operator or a loop guard.
        case escalate
        /// `blocked → active`, by an operator or approver.
        case unblock
        /// `active | blocked → closed`, by a coordinator with an outcome.
        case close
    }

    /// The status a transition leads to from this one, or an error naming why it cannot happen.
    public func applying(_ transition: Transition) throws(BridgeError) -> ThreadStatus {
        switch (self, transition) {
        case (.active, .escalate): return .blocked
        case (.blocked, .unblock): return .active
        case (.active, .close), (.blocked, .close): return .closed
        case (.closed, _):
            throw BridgeError(.failedPrecondition, .threadClosed, "The thread is closed.")
        default:
            throw BridgeError(
                .failedPrecondition,
                .invalidStatusTransition,
                "Cannot \(transition.rawValue) a thread that is \(rawValue).",
                details: ["status": rawValue, "transition": transition.rawValue]
            )
        }
    }
}
