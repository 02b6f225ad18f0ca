import Foundation

/// The runtime descriptor of a participant: how the supervisor may reach its agent session.
public struct RuntimeDescriptor: Sendable, Codable, Hashable {
    public var kind: RuntimeKind
    /// Whether the bridge may start or resume this runtime.
    public var managed: Bool
    public var sessionID: String?
    public var workdir: String?

    public init(kind: RuntimeKind = .none, managed: Bool = false, sessionID: String? = nil, workdir: String? = nil) {
        self.kind = kind
        self.managed = managed
        self.sessionID = sessionID
        self.workdir = workdir
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case managed
        case sessionID = "session_id"
        case workdir
    }
}

/// An agent or human identity registered in a workspace.
public struct Participant: Sendable, Codable, Hashable {
    public var handle: String
    public var displayName: String?
    public var role: Role
    public var runtime: RuntimeDescriptor
    public var presence: Presence
    public var lastHeartbeatAt: Date?
    public var lastHumanInputAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        handle: String,
        displayName: String?,
        role: Role,
        runtime: RuntimeDescriptor,
        presence: Presence,
        lastHeartbeatAt: Date?,
        lastHumanInputAt: Date?,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.handle = handle
        self.displayName = displayName
        self.role = role
        self.runtime = runtime
        self.presence = presence
        self.lastHeartbeatAt = lastHeartbeatAt
        self.lastHumanInputAt = lastHumanInputAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case handle
        case displayName = "display_name"
        case role
        case runtime
        case presence
        case lastHeartbeatAt = "last_heartbeat_at"
        case lastHumanInputAt = "last_human_input_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// A thread member with its per-thread role and read cursor.
public struct ThreadMember: Sendable, Codable, Hashable {
    public var handle: String
    public var role: Role
    /// The last acknowledged seq.
    public var cursorSeq: Int64
    /// Messages after the cursor.
    public var unread: Int64
    public var joinedAt: Date

    public init(handle: String, role: Role, cursorSeq: Int64, unread: Int64, joinedAt: Date) {
        self.handle = handle
        self.role = role
        self.cursorSeq = cursorSeq
        self.unread = unread
        self.joinedAt = joinedAt
    }

    enum CodingKeys: String, CodingKey {
        case handle
        case role
        case cursorSeq = "cursor_seq"
        case unread
        case joinedAt = "joined_at"
    }
}

/// A thread's own row, without its members.
public struct ThreadSummary: Sendable, Codable, Hashable {
    public var id: UUID
    public var title: String
    public var status: ThreadStatus
    public var statusReason: String?
    public var outcome: String?
    public var autonomous: Bool
    public var createdBy: String
    public var lastSeq: Int64
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID,
        title: String,
        status: ThreadStatus,
        statusReason: String?,
        outcome: String?,
        autonomous: Bool,
        createdBy: String,
        lastSeq: Int64,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.title = title
        self.status = status
        self.statusReason = statusReason
        self.outcome = outcome
        self.autonomous = autonomous
        self.createdBy = createdBy
        self.lastSeq = lastSeq
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case title
        case status
        case statusReason = "status_reason"
        case outcome
        case autonomous
        case createdBy = "created_by"
        case lastSeq = "last_seq"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// A thread with its current members and their cursors.
public struct ThreadDetail: Sendable, Codable, Hashable {
    public var thread: ThreadSummary
    public var participants: [ThreadMember]

    public init(thread: ThreadSummary, participants: [ThreadMember]) {
        self.thread = thread
        self.participants = participants
    }

    public func encode(to encoder: any Encoder) throws {
        try thread.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(participants, forKey: .participants)
    }

    public init(from decoder: any Decoder) throws {
        thread = try ThreadSummary(from: decoder)
        participants = try decoder.container(keyedBy: CodingKeys.self).decode([ThreadMember].self, forKey: .participants)
    }

    enum CodingKeys: String, CodingKey { case participants }
}

/// A message as stored: its seq is gapless and strictly increasing within its thread.
public struct Message: Sendable, Codable, Hashable {
    public var id: UUID
    public var threadID: UUID
    public var seq: Int64
    public var author: String
    public var kind: MessageKind
    /// Recipients; empty means a broadcast to the thread.
    public var to: [String]
    public var replyToSeq: Int64?
    public var body: String
    public var payload: JSONValue
    public var schemaVersion: String
    public var bodyHash: String
    public var createdAt: Date

    public init(
        id: UUID,
        threadID: UUID,
        seq: Int64,
        author: String,
        kind: MessageKind,
        to: [String],
        replyToSeq: Int64?,
        body: String,
        payload: JSONValue,
        schemaVersion: String,
        bodyHash: String,
        createdAt: Date
    ) {
        self.id = id
        self.threadID = threadID
        self.seq = seq
        self.author = author
        self.kind = kind
        self.to = to
        self.replyToSeq = replyToSeq
        self.body = body
        self.payload = payload
        self.schemaVersion = schemaVersion
        self.bodyHash = bodyHash
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case threadID = "thread_id"
        case seq
        case author
        case kind
        case to
        case replyToSeq = "reply_to_seq"
        case body
        case payload
        case schemaVersion = "schema_version"
        case bodyHash = "body_hash"
        case createdAt = "created_at"
    }
}
