import Foundation

/// A request for a human decision before a risky action (ARCHITECTURE.md, Domain and Identity and policy).
public struct ApprovalTicket: Sendable, Codable, Hashable {
    /// pending → approved | denied | expired | cancelled; every state but pending is final.
    public enum State: String, Sendable, Codable, CaseIterable {
        case pending, approved, denied, expired, cancelled
    }

    public enum Risk: String, Sendable, Codable, CaseIterable {
        case low, medium, high
    }

    public var id: UUID
    public var threadID: UUID
    public var requester: String
    public var actionClass: String
    public var resource: String
    public var summary: String
    public var risk: Risk
    public var state: State
    /// A handle, `operator:NAME`, or `policy`.
    public var decider: String?
    public var reasonCode: String?
    public var decisionNote: String?
    public var createdAt: Date
    public var decidedAt: Date?
    public var expiresAt: Date
    public var escalatedAt: Date?

    public init(
        id: UUID,
        threadID: UUID,
        requester: String,
        actionClass: String,
        resource: String,
        summary: String,
        risk: Risk,
        state: State,
        decider: String?,
        reasonCode: String?,
        decisionNote: String?,
        createdAt: Date,
        decidedAt: Date?,
        expiresAt: Date,
        escalatedAt: Date?
    ) {
        self.id = id
        self.threadID = threadID
        self.requester = requester
        self.actionClass = actionClass
        self.resource = resource
        self.summary = summary
        self.risk = risk
        self.state = state
        self.decider = decider
        self.reasonCode = reasonCode
        self.decisionNote = decisionNote
        self.createdAt = createdAt
        self.decidedAt = decidedAt
        self.expiresAt = expiresAt
        self.escalatedAt = escalatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case threadID = "thread_id"
        case requester
        case actionClass = "action_class"
        case resource, summary, risk, state, decider
        case reasonCode = "reason_code"
        case decisionNote = "decision_note"
        case createdAt = "created_at"
        case decidedAt = "decided_at"
        case expiresAt = "expires_at"
        case escalatedAt = "escalated_at"
    }
}
