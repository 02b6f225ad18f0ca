/// What a participant is for; roles decide which tools and transitions policy permits.
public enum Role: String, Sendable, Codable, CaseIterable {
    case coordinator, executioner, reviewer, approver, `operator`, observer
}

/// How the bridge can reach a participant's agent session.
public enum RuntimeKind: String, Sendable, Codable, CaseIterable {
    case codexCLI = "codex_cli"
    case claudeCode = "claude_code"
    case command
    case human
    case none
}

/// Liveness as reported by heartbeats.
public enum Presence: String, Sendable, Codable, CaseIterable {
    case active, idle, dormant
}

/// The kind of a message, which loop guards and readers use to tell progress from chatter.
public enum MessageKind: String, Sendable, Codable, CaseIterable {
    case note, request, finding, result, handoff, status, system
}
