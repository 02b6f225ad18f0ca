import Foundation

/// What a drill did and found: each step, each check, and the supervisor's decisions in order.
public struct DrillReport: Sendable, Codable {
    public struct StepLine: Sendable, Codable, Hashable {
        public var at: String
        public var action: String
        public var outcome: String
        public var passed: Bool
        public var expected: String?
    }

    public struct Check: Sendable, Codable, Hashable {
        /// `signal`, `step` or `end`.
        public var kind: String
        public var description: String
        public var passed: Bool
        public var detail: String
    }

    public var name: String
    public var runbook: String
    public var summary: String
    public var steps: [StepLine]
    public var checks: [Check]
    /// The supervisor's decisions: audit actions with targets and reasons, and wake attempts, in order.
    /// The same scenario gives the same list on every replay.
    public var decisions: [String]
    public var virtualDuration: String
    public var realDuration: Duration = .zero
    /// The scenario's thread names and the ids they got.
    public var threadIDs: [String: UUID] = [:]
    /// Where the drill's database still is, when it was kept.
    public var keptDatabaseURL: String?

    enum CodingKeys: String, CodingKey {
        case name, runbook, summary, steps, checks, decisions
        case virtualDuration = "virtual_duration"
        case passed
    }

    public var passed: Bool { checks.allSatisfy(\.passed) }

    public init(name: String, runbook: String, summary: String, steps: [StepLine], checks: [Check], decisions: [String], virtualDuration: String) {
        self.name = name
        self.runbook = runbook
        self.summary = summary
        self.steps = steps
        self.checks = checks
        self.decisions = decisions
        self.virtualDuration = virtualDuration
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        runbook = try container.decode(String.self, forKey: .runbook)
        summary = try container.decode(String.self, forKey: .summary)
        steps = try container.decode([StepLine].self, forKey: .steps)
        checks = try container.decode([Check].self, forKey: .checks)
        decisions = try container.decode([String].self, forKey: .decisions)
        virtualDuration = try container.decode(String.self, forKey: .virtualDuration)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(runbook, forKey: .runbook)
        try container.encode(summary, forKey: .summary)
        try container.encode(steps, forKey: .steps)
        try container.encode(checks, forKey: .checks)
        try container.encode(decisions, forKey: .decisions)
        try container.encode(virtualDuration, forKey: .virtualDuration)
        try container.encode(passed, forKey: .passed)
    }

    /// The report for a person.
    public func text(showDecisions: Bool = false) -> String {
        var lines = ["drill \(name) — runbooks/\(runbook)", "  \(summary)", "", "  steps (virtual time)"]
        for step in steps {
            let mark = step.passed ? " " : "✗"
            let expectation = step.passed || step.expected == nil ? "" : " (expected \(step.expected!))"
            lines.append("  \(mark) \(step.at.padding(toLength: 6, withPad: " ", startingAt: 0)) \(step.action): \(step.outcome)\(expectation)")
        }
        for (heading, kind) in [("signals (from the runbook page)", "signal"), ("end state", "end")] {
            let group = checks.filter { $0.kind == kind }
            guard !group.isEmpty else { continue }
            lines.append("")
            lines.append("  \(heading)")
            for check in group {
                lines.append("  \(check.passed ? "✓" : "✗") \(check.description)\(check.detail.isEmpty ? "" : " — \(check.detail)")")
            }
        }
        if showDecisions {
            lines.append("")
            lines.append("  supervisor decisions")
            lines.append(contentsOf: decisions.map { "    \($0)" })
        }
        let seconds = String(format: "%.1f", Double(realDuration.components.seconds) + Double(realDuration.components.attoseconds) / 1e18)
        if let keptDatabaseURL { lines.append("  database kept: \(keptDatabaseURL)") }
        lines.append("")
        lines.append(
            passed
                ? "PASS \(name): \(checks.count) checks, \(virtualDuration) of incident replayed in \(seconds) s"
                : "FAIL \(name): \(checks.filter { !$0.passed }.count) of \(checks.count) checks failed"
        )
        return lines.joined(separator: "\n")
    }
}
