import BridgeCore
import BridgeService
import Foundation

/// Claude Code's channel permission relay (CLIENTS.md): a live session that declared
/// `experimental["claude/channel/permission"]` sends each permission question it shows its human as a
/// `notifications/claude/channel/permission_request` {request_id, tool_name, description, input_preview}; the
/// bridge decides it exactly as `v1_permission_prompt` does (policy at once, or an approval ticket a human
/// decides) and answers with `notifications/claude/channel/permission` {request_id, behavior}. The first answer,
/// the terminal's or the relay's, wins in the client.
enum PermissionRelay {
    static let requestMethod = "notifications/claude/channel/permission_request"

    /// One relayed question, as the client sent it.
    struct Request: Sendable, Equatable {
        var requestID: String
        var toolName: String
        var description: String
        var inputPreview: String

        /// The question from a notification's params; nil when `request_id` or `tool_name` is missing.
        init?(_ params: [String: JSONValue]) {
            guard let requestID = params["request_id"]?.stringValue, !requestID.isEmpty,
                let toolName = params["tool_name"]?.stringValue, !toolName.isEmpty
            else { return nil }
            self.requestID = requestID
            self.toolName = toolName
            description = params["description"]?.stringValue ?? ""
            inputPreview = params["input_preview"]?.stringValue ?? ""
        }

        /// The tool input the catalog's rules read. The client sends a preview, not the input: a preview that is
        /// a JSON object is taken as the input; otherwise it stands in for the fields the rules look at (a Bash
        /// `command`, an edit's `file_path`, a fetch's `url`), so destructive commands are still recognised.
        var input: [String: JSONValue] {
            if case .object(let object)? = try? JSONParser.parse(Array(inputPreview.utf8)) { return object }
            let preview = JSONValue.string(inputPreview)
            return ["command": preview, "file_path": preview, "url": preview, "description": .string(description)]
        }
    }

    /// Decides one question and returns the notification that answers it; nil when the bridge has no one to
    /// ask (no thread, no rules) or cannot decide (the database is down): the terminal's human answers then.
    static func answer(_ request: Request, router: ToolRouter) async -> Data? {
        let behavior: String
        do throws(BridgeError) {
            let identity = try await router.identity.resolve()
            let context = CallContext(identity: identity, requestID: ToolRouter.makeRequestID())
            let input = PermissionPromptInput(toolName: request.toolName, input: request.input, toolUseID: "relay:\(request.requestID)")
            let hash = ContentHash.sha256Hex(
                JSONValue.object(["tool_name": .string(request.toolName), "input": .object(request.input)]).serialized()
            )
            let scope = IdempotencyScope(tool: BridgeOperation.permissionPrompt.rawValue, key: "relay:\(request.requestID)", requestHash: hash)
            switch try await router.service.answerPermissionPrompt(input, context: context, idempotency: scope) {
            case .allow:
                behavior = "allow"
            case .deny(let message):
                let unasked = [Reason.noPermissionThread, .noPermissionRule, .permissionWaitCancelled].contains {
                    message.hasSuffix("(\($0.rawValue))")
                }
                guard !unasked else { return nil }
                behavior = "deny"
            }
        } catch {
            return nil
        }
        return JSONValue.object([
            "jsonrpc": .string("2.0"), "method": .string("notifications/claude/channel/permission"),
            "params": .object(["request_id": .string(request.requestID), "behavior": .string(behavior)]),
        ]).serialized()
    }
}
