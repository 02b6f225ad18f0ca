import BridgeCore
import BridgeService
import Foundation
import Logging
import Synchronization

/// Turns one `tools/call` into a service call: schema version, argument validation, identity, idempotency
/// scope, dispatch, and the single mapping of every outcome to a tool result.
///
/// Arguments arrive as the ``JSONValue`` the frame was parsed into and are decoded from it straight into the
/// tool's typed input; the typed output is encoded once into the result's ``JSONValue``. Nothing passes through
/// the SDK's `Value`, which rewrites strings that look like data URLs (modelcontextprotocol/swift-sdk#277).
///
/// Any failure is an `isError` result with the wire-contract error object; an unknown tool is a JSON-RPC error.
public final class ToolRouter: Sendable {
    /// What a call produced: the `structuredContent`, and whether it is a tool error.
    public struct Result: Sendable {
        public var structured: JSONValue
        public var isError: Bool
    }

    /// A protocol fault: the named tool does not exist (answered with JSON-RPC `-32602`).
    public struct UnknownTool: Error, Sendable {
        public var message: String
    }

    let catalog: ToolCatalog
    let service: BridgeAPI
    /// Resolves the caller of each call.
    let identity: CallerIdentity
    let logger: Logger
    /// Where every call is counted for `/metrics`; nil counts nothing.
    let stats: APIRequestStats?
    /// Where every call notes its caller's presence, for ``PresenceFlusher`` to write.
    let presence: PresenceLog
    private let ensuredParticipants = Mutex<Set<Identity>>([])

    /// - Parameters:
    ///   - stats: counts every call by tool and code, for ``APIStatsFlusher`` to persist.
    ///   - presence: notes each caller, for ``PresenceFlusher`` to write as `last_seen_at`.
    public init(
        catalog: ToolCatalog,
        service: BridgeAPI,
        identity: CallerIdentity,
        logger: Logger,
        stats: APIRequestStats? = nil,
        presence: PresenceLog
    ) {
        self.catalog = catalog
        self.service = service
        self.identity = identity
        self.logger = logger
        self.stats = stats
        self.presence = presence
    }

    /// Handles one tool call; throws only for a protocol fault (an unknown tool).
    ///
    /// - Parameter received: when the call's frame arrived; the `tool.call` log line's `duration_ms` counts from it.
    public func call(
        name: String,
        arguments: [String: JSONValue],
        received: ContinuousClock.Instant = .now
    ) async throws(UnknownTool) -> Result {
        guard let entry = catalog.entries[name] else {
            throw UnknownTool(message: "Unknown tool: \(name.prefix(200)). Call tools/list for the v1 tools.")
        }
        let requestID = Self.makeRequestID()
        var context: CallContext?
        do throws(BridgeError) {
            // Who is calling comes first: a caller whose token has expired learns nothing else.
            let identity = try await identity.resolve()
            let schemaVersion = try SchemaVersion.check(arguments["schema_version"]?.stringValue)
            try catalog.validate(.object(arguments), for: entry)
            let requestContext = CallContext(identity: identity, requestID: requestID)
            context = requestContext
            try await ensureParticipant(requestContext)
            let output = try await dispatch(entry.operation, arguments: arguments, schemaVersion: schemaVersion, context: requestContext)
            let result = try Self.result(output)
            log(entry, context: requestContext, arguments: arguments, started: received, error: nil)
            return result
        } catch {
            log(entry, context: context, requestID: requestID, arguments: arguments, started: received, error: error)
            return Self.errorResult(error, requestID: requestID)
        }
    }

    private func dispatch(
        _ operation: BridgeOperation,
        arguments: [String: JSONValue],
        schemaVersion: String,
        context: CallContext
    ) async throws(BridgeError) -> any Encodable {
        let idempotency = try idempotencyScope(operation, arguments: arguments)
        func input<T: Decodable>(_ type: T.Type) throws(BridgeError) -> T {
            do {
                return try JSONValueDecoder().decode(T.self, from: .object(arguments))
            } catch {
                throw BridgeError.invalidArgument(.invalidFieldValue, "The arguments do not fit \(operation.rawValue).")
            }
        }
        switch operation {
        case .whoami: return try await service.whoami(context: context)
        case .participantRegister: return try await service.register(input(RegisterInput.self), context: context, idempotency: idempotency)
        case .participantHeartbeat: return try await service.heartbeat(input(HeartbeatInput.self), context: context, idempotency: idempotency)
        case .threadCreate:
            return try await service.createThread(
                input(ThreadCreateInput.self),
                schemaVersion: schemaVersion,
                context: context,
                idempotency: idempotency
            )
        case .threadGet: return try await service.getThread(input(ThreadRefInput.self), context: context)
        case .threadList: return try await service.listThreads(input(ThreadListInput.self), context: context)
        case .threadJoin: return try await service.joinThread(input(ThreadJoinInput.self), context: context, idempotency: idempotency)
        case .threadLeave: return try await service.leaveThread(input(ThreadRefInput.self), context: context, idempotency: idempotency)
        case .threadSetStatus: return try await service.setThreadStatus(input(ThreadSetStatusInput.self), context: context, idempotency: idempotency)
        case .messagePost:
            return try await service.post(input(MessagePostInput.self), schemaVersion: schemaVersion, context: context, idempotency: idempotency)
        case .messageRead: return try await service.read(input(MessageReadInput.self), context: context)
        case .messageAck: return try await service.ack(input(MessageAckInput.self), context: context, idempotency: idempotency)
        case .inbox: return try await service.inbox(input(InboxInput.self), context: context)
        case .approvalRequest: return try await service.requestApproval(input(ApprovalRequestInput.self), context: context, idempotency: idempotency)
        case .approvalGet: return try await service.getApproval(input(ApprovalGetInput.self), context: context)
        case .approvalDecide: return try await service.decideApproval(input(ApprovalDecideInput.self), context: context, idempotency: idempotency)
        case .approvalList: return try await service.listApprovals(input(ApprovalListInput.self), context: context)
        case .approvalCancel: return try await service.cancelApproval(input(ApprovalCancelInput.self), context: context, idempotency: idempotency)
        case .wakeTrigger: return try await service.triggerWake(input(WakeTriggerInput.self), context: context, idempotency: idempotency)
        case .wakeStatus: return try await service.wakeStatus(input(WakeStatusInput.self), context: context)
        case .permissionPrompt:
            return try await service.answerPermissionPrompt(input(PermissionPromptInput.self), context: context, idempotency: idempotency)
        }
    }

    /// The key and request fingerprint of a mutating call; the fingerprint covers every argument but the key,
    /// in the writer's one stable form (members sorted, strings and numbers as sent).
    ///
    /// A permission prompt's key is Claude Code's `tool_use_id`: it sends no `idempotency_key`, and one tool use
    /// asked twice must wait on one ticket.
    private func idempotencyScope(_ operation: BridgeOperation, arguments: [String: JSONValue]) throws(BridgeError) -> IdempotencyScope? {
        let keyField = operation == .permissionPrompt ? "tool_use_id" : "idempotency_key"
        guard operation.isMutating, case .string(let key)? = arguments[keyField] else { return nil }
        var fingerprinted = arguments
        fingerprinted.removeValue(forKey: keyField)
        let canonical = JSONValue.object(fingerprinted).serialized()
        return IdempotencyScope(tool: operation.rawValue, key: key, requestHash: ContentHash.sha256Hex(canonical))
    }

    /// Registers the caller's participant row once per process (again after a failure) and notes its presence,
    /// which ``PresenceFlusher`` writes off the request path.
    private func ensureParticipant(_ context: CallContext) async throws(BridgeError) {
        if !ensuredParticipants.withLock({ $0.contains(context.identity) }) {
            try await service.ensureParticipant(context: context)
            ensuredParticipants.withLock { _ = $0.insert(context.identity) }
        }
        presence.note(context.identity)
    }

    // MARK: - Results

    static func result(_ output: any Encodable, isError: Bool = false) throws(BridgeError) -> Result {
        do {
            return Result(structured: try JSONValueEncoder().encode(output), isError: isError)
        } catch {
            throw BridgeError(.internal, .internalError, "Internal error.", underlying: error)
        }
    }

    /// The wire form of a failure. `INTERNAL` says nothing but the request id.
    static func errorResult(_ error: BridgeError, requestID: String) -> Result {
        let message = error.code == .internal ? "Internal error; quote request id \(requestID) when reporting it." : error.message
        let envelope = ErrorEnvelope(
            error: .init(
                code: error.code.rawValue,
                reason: error.code == .internal ? Reason.internalError.rawValue : error.reason.rawValue,
                message: message,
                requestID: requestID,
                retryable: error.retryable,
                details: error.code == .internal ? [:] : error.details
            )
        )
        return (try? result(envelope, isError: true))
            ?? Result(structured: .object(["error": .object(["code": .string(BridgeError.Code.internal.rawValue)])]), isError: true)
    }

    struct ErrorEnvelope: Encodable {
        struct Body: Encodable {
            var code: String
            var reason: String
            var message: String
            var requestID: String
            var retryable: Bool
            var details: [String: String]
            enum CodingKeys: String, CodingKey {
                case code, reason, message
                case requestID = "request_id"
                case retryable, details
            }
        }
        var error: Body
    }

    static func makeRequestID() -> String {
        "req_" + UUID().wireString.replacingOccurrences(of: "-", with: "").prefix(20)
    }

    /// Counts the call and writes its `tool.call` log line.
    private func log(
        _ entry: ToolCatalog.Entry,
        context: CallContext?,
        requestID: String? = nil,
        arguments: [String: JSONValue],
        started: ContinuousClock.Instant,
        error: BridgeError?
    ) {
        let elapsed = started.duration(to: .now)
        let code = error?.code.rawValue ?? "OK"
        stats?.record(tool: entry.tool.name, code: code, duration: elapsed)
        let milliseconds = elapsed.seconds * 1000
        var metadata: Logger.Metadata = [
            "event": "tool.call", "tool": "\(entry.tool.name)",
            "request_id": "\(context?.requestID ?? requestID ?? "")",
            "duration_ms": "\(String(format: "%.2f", milliseconds))",
            "code": "\(code)",
        ]
        if let context { metadata["participant"] = "\(context.identity.handle)" }
        // Only a well-formed id: the argument is the client's, and the log is the operator's.
        if let threadID = arguments["thread_id"]?.stringValue.flatMap(UUID.init(uuidString:)) {
            metadata["thread_id"] = "\(threadID.wireString)"
        }
        guard let error else {
            logger.info("Tool call completed.", metadata: metadata)
            return
        }
        metadata["reason"] = "\(error.reason.rawValue)"
        if error.code == .internal {
            metadata["error"] = "\(error.underlying.map { String(reflecting: $0) } ?? error.message)"
            logger.error("Tool call failed.", metadata: metadata)
        } else if error.code == .unavailable {
            // The operator needs the cause (which file, which connection); the client got only the reason.
            metadata["error"] = "\(error.underlying.map { String(describing: $0) } ?? error.message)"
            logger.warning("Tool call refused: a dependency is unavailable.", metadata: metadata)
        } else {
            logger.info("Tool call refused.", metadata: metadata)
        }
    }
}
