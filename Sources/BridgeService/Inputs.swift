import BridgeCore
import Foundation

/// The arguments of each v1 tool, decoded after schema validation. Unknown fields are ignored (a newer
/// minor version may send them); `schema_version` and `idempotency_key` are read by the caller of the service.

public struct RegisterInput: Decodable, Sendable {
    public var displayName: String?
    public var runtime: RuntimeDescriptorInput?
    enum CodingKeys: String, CodingKey {
        case displayName = "display_name"
        case runtime
    }
}

public struct RuntimeDescriptorInput: Decodable, Sendable {
    public var kind: RuntimeKind
    public var managed: Bool?
    public var sessionID: String?
    public var workdir: String?
    enum CodingKeys: String, CodingKey {
        case kind, managed
        case sessionID = "session_id"
        case workdir
    }
}

public struct HeartbeatInput: Decodable, Sendable {
    public var presence: Presence?
    public var humanInput: Bool?
    public var sessionID: String?
    enum CodingKeys: String, CodingKey {
        case presence
        case humanInput = "human_input"
        case sessionID = "session_id"
    }
}

public struct ThreadCreateInput: Decodable, Sendable {
    public struct Member: Decodable, Sendable {
        public var handle: String
        public var role: Role?
    }
    public struct FirstMessage: Decodable, Sendable {
        public var body: String
        public var kind: MessageKind?
        public var to: [String]?
        public var payload: JSONValue?
    }
    public var title: String
    public var participants: [Member]?
    public var autonomous: Bool?
    public var message: FirstMessage?
}

public struct ThreadRefInput: Decodable, Sendable {
    public var threadID: UUID
    enum CodingKeys: String, CodingKey { case threadID = "thread_id" }
}

public struct ThreadListInput: Decodable, Sendable {
    public var status: ThreadStatus?
    public var memberOnly: Bool?
    public var limit: Int?
    public var pageToken: String?
    enum CodingKeys: String, CodingKey {
        case status
        case memberOnly = "member_only"
        case limit
        case pageToken = "page_token"
    }
}

public struct ThreadJoinInput: Decodable, Sendable {
    public var threadID: UUID
    public var role: Role?
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case role
    }
}

public struct ThreadSetStatusInput: Decodable, Sendable {
    public var threadID: UUID
    public var action: ThreadStatus.Transition
    public var reason: String?
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case action, reason
    }

    public init(threadID: UUID, action: ThreadStatus.Transition, reason: String?) {
        self.threadID = threadID
        self.action = action
        self.reason = reason
    }
}

public struct MessagePostInput: Decodable, Sendable {
    public var threadID: UUID
    public var body: String
    public var kind: MessageKind?
    public var to: [String]?
    public var replyToSeq: Int64?
    public var payload: JSONValue?
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case body, kind, to
        case replyToSeq = "reply_to_seq"
        case payload
    }
}

public struct MessageReadInput: Decodable, Sendable {
    public var threadID: UUID
    public var afterSeq: Int64?
    public var limit: Int?
    public var waitSeconds: Double?
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case afterSeq = "after_seq"
        case limit
        case waitSeconds = "wait_seconds"
    }
}

public struct MessageAckInput: Decodable, Sendable {
    public var threadID: UUID
    public var seq: Int64
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case seq
    }
}

public struct InboxInput: Decodable, Sendable {
    public var limit: Int?
    public var waitSeconds: Double?
    enum CodingKeys: String, CodingKey {
        case limit
        case waitSeconds = "wait_seconds"
    }
}

public struct ApprovalRequestInput: Decodable, Sendable {
    public var threadID: UUID
    public var actionClass: String
    public var resource: String
    public var summary: String
    public var risk: ApprovalTicket.Risk?
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case actionClass = "action_class"
        case resource, summary, risk
    }
}

public struct ApprovalGetInput: Decodable, Sendable {
    public var ticketID: UUID
    public var waitSeconds: Double?
    enum CodingKeys: String, CodingKey {
        case ticketID = "ticket_id"
        case waitSeconds = "wait_seconds"
    }
}

public struct ApprovalDecideInput: Decodable, Sendable {
    public enum Decision: String, Decodable, Sendable { case approve, deny }
    public var ticketID: UUID
    public var decision: Decision
    public var note: String?
    enum CodingKeys: String, CodingKey {
        case ticketID = "ticket_id"
        case decision, note
    }

    public init(ticketID: UUID, decision: Decision, note: String?) {
        self.ticketID = ticketID
        self.decision = decision
        self.note = note
    }
}

public struct ApprovalListInput: Decodable, Sendable {
    public var state: ApprovalTicket.State?
    public var threadID: UUID?
    public var limit: Int?
    enum CodingKeys: String, CodingKey {
        case state
        case threadID = "thread_id"
        case limit
    }

    public init(state: ApprovalTicket.State?, threadID: UUID?, limit: Int?) {
        self.state = state
        self.threadID = threadID
        self.limit = limit
    }
}

public struct ApprovalCancelInput: Decodable, Sendable {
    public var ticketID: UUID
    public var reason: String?
    enum CodingKeys: String, CodingKey {
        case ticketID = "ticket_id"
        case reason
    }
}

public struct WakeTriggerInput: Decodable, Sendable {
    public var threadID: UUID
    public var participant: String
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case participant
    }
}

public struct WakeStatusInput: Decodable, Sendable {
    public var participant: String?
    public var threadID: UUID?
    public var limit: Int?
    enum CodingKeys: String, CodingKey {
        case participant
        case threadID = "thread_id"
        case limit
    }
}

/// A Claude Code permission question, as `--permission-prompt-tool` sends it, plus an optional thread.
public struct PermissionPromptInput: Decodable, Sendable {
    public var toolName: String
    public var input: [String: JSONValue]
    public var toolUseID: String?
    public var threadID: UUID?
    enum CodingKeys: String, CodingKey {
        case toolName = "tool_name"
        case input
        case toolUseID = "tool_use_id"
        case threadID = "thread_id"
    }

    public init(toolName: String, input: [String: JSONValue], toolUseID: String? = nil, threadID: UUID? = nil) {
        self.toolName = toolName
        self.input = input
        self.toolUseID = toolUseID
        self.threadID = threadID
    }
}
