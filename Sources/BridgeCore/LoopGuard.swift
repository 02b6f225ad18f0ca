/// The loop guards (ARCHITECTURE.md, Supervisor): a thread whose agents keep talking without progress, or keep reporting
/// the same finding, is blocked for a human. Pure: the supervisor feeds it the thread's new messages.
public struct LoopGuard: Sendable {
    /// A message as the guards see it.
    public struct Observation: Sendable, Hashable {
        public var kind: MessageKind
        /// Written by a person (a `human` runtime or an operator), not an agent.
        public var byHuman: Bool
        /// A system message recording a status change (escalate, unblock, close).
        public var isStatusChange: Bool
        public var bodyHash: String

        public init(kind: MessageKind, byHuman: Bool, isStatusChange: Bool, bodyHash: String) {
            self.kind = kind
            self.byHuman = byHuman
            self.isStatusChange = isStatusChange
            self.bodyHash = bodyHash
        }
    }

    /// A guard that fired.
    public enum Trip: Sendable, Hashable {
        case noProgress(turns: Int)
        case repeatedFinding(bodyHash: String, cycles: Int)

        public var reason: Reason {
            switch self {
            case .noProgress: .noProgressLimit
            case .repeatedFinding: .repeatedFinding
            }
        }
    }

    public var noProgressLimit: Int
    public var repeatedFindingLimit: Int

    public init(timings: PolicyCatalog.Timings) {
        self.noProgressLimit = timings.noProgressAutoBlockTurns
        self.repeatedFindingLimit = timings.repeatedFindingAutoBlockCycles
    }

    /// Counts agent turns without progress over `messages` (oldest first), starting from `turns`.
    /// Progress is a `result` or `status` message, a human's message, or a status change.
    public func noProgressTurns(after messages: [Observation], startingAt turns: Int) -> Int {
        var turns = turns
        for message in messages {
            if message.kind == .result || message.kind == .status || message.byHuman || message.isStatusChange {
                turns = 0
            } else if message.kind != .system {
                turns += 1
            }
        }
        return turns
    }

    /// The guard that fires, if any. `turns` is the count after the new messages; `findingCycles` counts, per
    /// body hash of a finding among the new messages, how often the thread has reported it since its last block.
    public func trip(turns: Int, findingCycles: [String: Int]) -> Trip? {
        if let worst = findingCycles.filter({ $0.value >= repeatedFindingLimit }).max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) {
            return .repeatedFinding(bodyHash: worst.key, cycles: worst.value)
        }
        if turns >= noProgressLimit {
            return .noProgress(turns: turns)
        }
        return nil
    }
}
