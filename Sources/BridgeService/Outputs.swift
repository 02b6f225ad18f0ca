import BridgeCore
import Foundation

/// The results of each v1 tool; their JSON is the `structuredContent` and must match `schemas/v1/*.output.json`.

public struct WhoamiOutput: Encodable, Sendable {
    public struct Server: Encodable, Sendable {
        public var name: String
        public var version: String
    }
    public struct LimitsOutput: Encodable, Sendable {
        public var maxBodyBytes: Int
        public var maxPayloadBytes: Int
        public var maxWaitSeconds: Double
        public var maxReadLimit: Int
        enum CodingKeys: String, CodingKey {
            case maxBodyBytes = "max_body_bytes"
            case maxPayloadBytes = "max_payload_bytes"
            case maxWaitSeconds = "max_wait_seconds"
            case maxReadLimit = "max_read_limit"
        }
    }
    public var participant: String
    public var workspace: String
    public var role: Role
    public var authMode: String
    public var registered: Bool
    public var server: Server
    public var schemaVersion: String
    public var limits: LimitsOutput
    enum CodingKeys: String, CodingKey {
        case participant, workspace, role
        case authMode = "auth_mode"
        case registered, server
        case schemaVersion = "schema_version"
        case limits
    }
}

public struct RegisterOutput: Encodable, Sendable {
    public var participant: Participant
    public var created: Bool
    public var deduplicated: Bool
}

public struct HeartbeatOutput: Encodable, Sendable {
    public var participant: Participant
    public var deduplicated: Bool
}

public struct ThreadCreateOutput: Encodable, Sendable {
    public var thread: ThreadDetail
    public var message: Message?
    public var deduplicated: Bool
}

public struct ThreadGetOutput: Encodable, Sendable {
    public var thread: ThreadDetail
}

public struct ThreadListOutput: Encodable, Sendable {
    public var threads: [ThreadSummary]
    public var nextPageToken: String?
    enum CodingKeys: String, CodingKey {
        case threads
        case nextPageToken = "next_page_token"
    }
}

public struct ThreadJoinOutput: Encodable, Sendable {
    public var thread: ThreadDetail
    public var joined: Bool
    public var deduplicated: Bool
}

public struct ThreadLeaveOutput: Encodable, Sendable {
    public var thread: ThreadDetail
    public var left: Bool
    public var deduplicated: Bool
}

public struct ThreadSetStatusOutput: Encodable, Sendable {
    public var thread: ThreadDetail
    public var previousStatus: ThreadStatus
    public var deduplicated: Bool
    enum CodingKeys: String, CodingKey {
        case thread
        case previousStatus = "previous_status"
        case deduplicated
    }
}

public struct MessagePostOutput: Encodable, Sendable {
    public var message: Message
    public var deduplicated: Bool
}

public struct MessageReadOutput: Encodable, Sendable {
    public var threadID: UUID
    public var messages: [Message]
    public var lastSeq: Int64
    public var nextAfterSeq: Int64
    public var hasMore: Bool
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case messages
        case lastSeq = "last_seq"
        case nextAfterSeq = "next_after_seq"
        case hasMore = "has_more"
    }
}

public struct MessageAckOutput: Encodable, Sendable {
    public var threadID: UUID
    public var cursorSeq: Int64
    public var lastSeq: Int64
    public var unread: Int64
    public var deduplicated: Bool
    enum CodingKeys: String, CodingKey {
        case threadID = "thread_id"
        case cursorSeq = "cursor_seq"
        case lastSeq = "last_seq"
        case unread, deduplicated
    }
}

public struct InboxOutput: Encodable, Sendable {
    public var messages: [Message]
    public var hasMore: Bool
    enum CodingKeys: String, CodingKey {
        case messages
        case hasMore = "has_more"
    }
}

/// The result of opening, deciding or cancelling a ticket.
public struct ApprovalChangeOutput: Codable, Sendable {
    public var ticket: ApprovalTicket
    public var deduplicated: Bool
}

public struct ApprovalGetOutput: Encodable, Sendable {
    public var ticket: ApprovalTicket
}

public struct ApprovalListOutput: Encodable, Sendable {
    public var tickets: [ApprovalTicket]
}

public struct WakeTriggerOutput: Encodable, Sendable {
    public var wake: WakeRequest
    public var created: Bool
    public var deduplicated: Bool
}

public struct WakeStatusOutput: Encodable, Sendable {
    public var wakes: [WakeRequest]
}

/// Claude Code's permission answer, in the exact shape its `--permission-prompt-tool` contract asks for:
/// `{"behavior":"allow","updatedInput":{…}}` or `{"behavior":"deny","message":"…"}`, and nothing else.
public enum PermissionPromptOutput: Encodable, Sendable, Equatable {
    case allow(updatedInput: [String: JSONValue])
    case deny(message: String)

    enum CodingKeys: String, CodingKey { case behavior, updatedInput, message }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .allow(let input):
            try container.encode("allow", forKey: .behavior)
            try container.encode(input, forKey: .updatedInput)
        case .deny(let message):
            try container.encode("deny", forKey: .behavior)
            try container.encode(message, forKey: .message)
        }
    }
}
