import BridgeCore
import Foundation

/// A permission-prompt answer that policy gave at once, without a ticket, as the audit trail records it.
public struct PermissionAnswerRecord: Sendable {
    public var toolName: String
    public var toolUseID: String?
    public var actionClass: String?
    public var resource: String?
    /// `allow` or `deny`.
    public var behavior: String
    public var reason: Reason
    public var threadID: UUID?

    public init(toolName: String, toolUseID: String?, actionClass: String?, resource: String?, behavior: String, reason: Reason, threadID: UUID?) {
        self.toolName = toolName
        self.toolUseID = toolUseID
        self.actionClass = actionClass
        self.resource = resource
        self.behavior = behavior
        self.reason = reason
        self.threadID = threadID
    }
}

extension PostgresStore {
    /// Writes one `permission.allow` / `permission.deny` audit event for an answer policy gave without a ticket.
    /// Answers that went through a ticket are audited by the ticket's own events.
    public func recordPermissionAnswer(_ record: PermissionAnswerRecord, context: CallContext) async throws(BridgeError) {
        var facts: [String: JSONValue] = ["tool_name": .string(record.toolName), "behavior": .string(record.behavior)]
        if let actionClass = record.actionClass { facts["action_class"] = .string(actionClass) }
        if let resource = record.resource { facts["resource"] = .string(resource) }
        if let threadID = record.threadID { facts["thread_id"] = .string(threadID.wireString) }
        let after = facts
        let target = record.toolUseID.map { "tool_use:\($0)" } ?? "tool:\(record.toolName)"
        // In a transaction like every write: the answer waits for its audit row's confirmed COMMIT.
        _ = try await withTransaction { connection in
            try await Self.audit(
                connection,
                context: context,
                action: "permission.\(record.behavior)",
                target: target,
                after: after,
                reason: record.reason.rawValue,
                logger: self.logger
            )
            return true
        }
    }
}
