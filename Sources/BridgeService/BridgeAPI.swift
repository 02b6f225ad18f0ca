import BridgeCore
import BridgeStore
import Foundation
import Logging

/// The v1 operations: identity → policy → validation → store (with audit) → result.
///
/// Shared by the MCP server and the operator CLI, so both obey one policy and write one audit trail.
public struct BridgeAPI: Sendable {
    /// What the service tells clients about itself and enforces on every call.
    public struct Configuration: Sendable {
        public var serverName = "agent-bridge"
        public var serverVersion: String
        /// `local` or `token`.
        public var authMode = "local"
        /// The policy catalog: roles, approval rules, limits and timings.
        public var catalog: PolicyCatalog
        public var limits: Limits { catalog.limits }
        /// The thread this session was woken for (`AGENT_BRIDGE_WAKE_THREAD_ID`, set by the supervisor): where
        /// `v1_permission_prompt` opens its tickets when the call names no thread.
        public var wakeThreadID: UUID?

        public init(serverVersion: String, catalog: PolicyCatalog) {
            self.serverVersion = serverVersion
            self.catalog = catalog
        }
    }

    public let configuration: Configuration
    /// Where every operation reads and writes; the MCP layer reaches it only through the service's operations.
    let store: PostgresStore
    let policy: CatalogPolicy
    let logger: Logger

    public init(configuration: Configuration, store: PostgresStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.policy = CatalogPolicy(catalog: configuration.catalog)
        self.logger = logger
    }

    /// Passes the request through policy; a denial is logged with its decision trace and thrown.
    /// A denial about a thread names it in the error's details (`thread_id`).
    public func authorize(_ request: PolicyRequest, context: CallContext, threadID: UUID? = nil) throws(BridgeError) {
        if case .deny(var error, let trace) = policy.decide(request) {
            if let threadID, error.details["thread_id"] == nil { error.details["thread_id"] = threadID.wireString }
            logger.notice(
                "Policy denied the request.",
                metadata: [
                    "event": "policy.denied", "request_id": "\(context.requestID)", "participant": "\(context.identity.handle)",
                    "tool": "\(request.operation.rawValue)", "reason": "\(error.reason.rawValue)",
                    "policy.trace": "\(trace.joined(separator: "; "))",
                ]
            )
            throw error
        }
    }

    /// The thread rules of `operation` for the caller, as the closure a store call runs on the facts it loaded in
    /// its own transaction (so no check-then-act race separates the decision from the write); a denial names
    /// `threadID`.
    func threadRules(
        _ operation: BridgeOperation,
        transition: ThreadStatus.Transition? = nil,
        threadID: UUID,
        context: CallContext
    ) -> @Sendable (ThreadFacts) throws(BridgeError) -> Void {
        { thread throws(BridgeError) in
            try self.authorize(
                PolicyRequest(identity: context.identity, operation: operation, transition: transition, thread: thread),
                context: context,
                threadID: threadID
            )
        }
    }

    // MARK: - Participants

    public func whoami(context: CallContext) async throws(BridgeError) -> WhoamiOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .whoami), context: context)
        let registered: Bool
        do {
            let participant = try await store.participant(handle: context.identity.handle, context: context)
            registered = participant.displayName != nil || participant.runtime.kind != .none
        } catch  where error.reason == .participantNotFound {
            registered = false
        }
        let limits = configuration.limits
        return WhoamiOutput(
            participant: context.identity.handle,
            workspace: context.identity.workspace,
            role: context.identity.role,
            authMode: configuration.authMode,
            registered: registered,
            server: .init(name: configuration.serverName, version: configuration.serverVersion),
            schemaVersion: SchemaVersion.current,
            limits: .init(
                maxBodyBytes: limits.maxBodyBytes,
                maxPayloadBytes: limits.maxPayloadBytes,
                maxWaitSeconds: limits.maxWaitSeconds,
                maxReadLimit: limits.maxReadLimit
            )
        )
    }

    public func register(_ input: RegisterInput, context: CallContext, idempotency: IdempotencyScope?) async throws(BridgeError) -> RegisterOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .participantRegister), context: context)
        let runtime = input.runtime.map {
            RuntimeDescriptor(kind: $0.kind, managed: $0.managed ?? false, sessionID: $0.sessionID, workdir: $0.workdir)
        }
        let (change, deduplicated) = try await store.registerParticipant(
            ParticipantRegistration(displayName: input.displayName, runtime: runtime),
            context: context,
            idempotency: idempotency
        )
        return RegisterOutput(participant: change.participant, created: change.created, deduplicated: deduplicated)
    }

    public func heartbeat(_ input: HeartbeatInput, context: CallContext, idempotency: IdempotencyScope?) async throws(BridgeError) -> HeartbeatOutput
    {
        try authorize(PolicyRequest(identity: context.identity, operation: .participantHeartbeat), context: context)
        let (participant, deduplicated) = try await store.heartbeat(
            Heartbeat(presence: input.presence ?? .active, humanInput: input.humanInput ?? false, sessionID: input.sessionID),
            context: context,
            idempotency: idempotency
        )
        return HeartbeatOutput(participant: participant, deduplicated: deduplicated)
    }

    // MARK: - Threads

    public func createThread(
        _ input: ThreadCreateInput,
        schemaVersion: String,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ThreadCreateOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadCreate), context: context)
        var members: [(handle: String, role: Role)] = []
        for member in input.participants ?? [] where !members.contains(where: { $0.handle == member.handle }) {
            members.append((member.handle, member.role ?? .executioner))
        }
        var first: NewMessage?
        if let message = input.message {
            let new = NewMessage(
                threadID: UUID(),
                kind: message.kind ?? .note,
                to: Self.unique(message.to ?? []),
                replyToSeq: nil,
                body: message.body,
                payload: message.payload ?? .emptyObject,
                schemaVersion: schemaVersion
            )
            try configuration.limits.checkMessage(
                body: new.body,
                payloadBytes: message.payload == nil ? nil : new.encodedPayload.utf8.count,
                fieldPrefix: "message."
            )
            first = new
        }
        let (created, deduplicated) = try await store.createThread(
            NewThread(title: input.title, autonomous: input.autonomous ?? false, participants: members, firstMessage: first),
            context: context,
            idempotency: idempotency
        )
        return ThreadCreateOutput(thread: created.thread, message: created.message, deduplicated: deduplicated)
    }

    public func getThread(_ input: ThreadRefInput, context: CallContext) async throws(BridgeError) -> ThreadGetOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadGet), context: context)
        return ThreadGetOutput(thread: try await store.thread(input.threadID, context: context))
    }

    public func listThreads(_ input: ThreadListInput, context: CallContext) async throws(BridgeError) -> ThreadListOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadList), context: context)
        let query = ThreadQuery(
            status: input.status,
            memberOnly: input.memberOnly ?? true,
            limit: min(max(input.limit ?? 50, 1), 200),
            pageToken: input.pageToken
        )
        let (threads, next) = try await store.listThreads(query, context: context)
        return ThreadListOutput(threads: threads, nextPageToken: next)
    }

    public func joinThread(
        _ input: ThreadJoinInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ThreadJoinOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadJoin), context: context)
        let (change, deduplicated) = try await store.joinThread(
            input.threadID,
            role: input.role ?? context.identity.role,
            context: context,
            idempotency: idempotency,
            authorize: threadRules(.threadJoin, threadID: input.threadID, context: context)
        )
        return ThreadJoinOutput(thread: change.thread, joined: change.changed, deduplicated: deduplicated)
    }

    public func leaveThread(
        _ input: ThreadRefInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ThreadLeaveOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadLeave), context: context)
        let (change, deduplicated) = try await store.leaveThread(input.threadID, context: context, idempotency: idempotency)
        return ThreadLeaveOutput(thread: change.thread, left: change.changed, deduplicated: deduplicated)
    }

    public func setThreadStatus(
        _ input: ThreadSetStatusInput,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> ThreadSetStatusOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .threadSetStatus, transition: input.action), context: context)
        if input.action == .close && (input.reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw BridgeError(.invalidArgument, .missingRequiredField, "Closing a thread needs a reason: the outcome.", details: ["field": "reason"])
        }
        let (change, deduplicated) = try await store.setThreadStatus(
            input.threadID,
            transition: input.action,
            reason: input.reason,
            context: context,
            idempotency: idempotency,
            authorize: threadRules(.threadSetStatus, transition: input.action, threadID: input.threadID, context: context)
        )
        return ThreadSetStatusOutput(thread: change.thread, previousStatus: change.previousStatus, deduplicated: deduplicated)
    }

    // MARK: - Messages

    /// Posts a message. Policy decides once: the role's permission here, the thread's rules on the facts the post
    /// statement read while guarding its write on them (see ``CatalogPolicy/threadRules``).
    public func post(
        _ input: MessagePostInput,
        schemaVersion: String,
        context: CallContext,
        idempotency: IdempotencyScope?
    ) async throws(BridgeError) -> MessagePostOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .messagePost), context: context)
        let message = NewMessage(
            threadID: input.threadID,
            kind: input.kind ?? .note,
            to: Self.unique(input.to ?? []),
            replyToSeq: input.replyToSeq,
            body: input.body,
            payload: input.payload ?? .emptyObject,
            schemaVersion: schemaVersion
        )
        try configuration.limits.checkMessage(body: message.body, payloadBytes: input.payload == nil ? nil : message.encodedPayload.utf8.count)
        let (posted, deduplicated) = try await store.postMessage(
            message,
            permissions: configuration.catalog.permissions(of: context.identity.role),
            rateLimit: configuration.catalog.postRateLimit,
            context: context,
            idempotency: idempotency
        ) { thread, post throws(BridgeError) in
            try self.authorize(
                PolicyRequest(identity: context.identity, operation: .messagePost, thread: thread, post: post),
                context: context,
                threadID: input.threadID
            )
        }
        return MessagePostOutput(message: posted, deduplicated: deduplicated)
    }

    public func read(_ input: MessageReadInput, context: CallContext) async throws(BridgeError) -> MessageReadOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .messageRead), context: context)
        let afterSeq = input.afterSeq ?? 0
        let limit = configuration.limits.readLimit(input.limit)
        let threadID = input.threadID
        let bypassMembership = configuration.catalog.permissions(of: context.identity.role).bypassMembership
        func readPage() async throws(BridgeError) -> MessagePage {
            try await store.readMessages(
                threadID: threadID,
                afterSeq: afterSeq,
                limit: limit,
                bypassMembership: bypassMembership,
                context: context,
                refused: threadRules(.messageRead, threadID: threadID, context: context)
            )
        }
        let page = try await longPoll(threads: [threadID], waitSeconds: input.waitSeconds) { () async throws(BridgeError) in
            let page = try await readPage()
            return page.messages.isEmpty ? nil : page
        } final: { () async throws(BridgeError) in
            try await readPage()
        }
        return MessageReadOutput(
            threadID: threadID,
            messages: page.messages,
            lastSeq: page.lastSeq,
            nextAfterSeq: page.messages.last?.seq ?? afterSeq,
            hasMore: page.hasMore
        )
    }

    public func ack(_ input: MessageAckInput, context: CallContext, idempotency: IdempotencyScope?) async throws(BridgeError) -> MessageAckOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .messageAck), context: context)
        let result = try await store.acknowledge(
            threadID: input.threadID,
            seq: input.seq,
            context: context,
            idempotency: idempotency,
            refused: threadRules(.messageAck, threadID: input.threadID, context: context)
        )
        return MessageAckOutput(
            threadID: input.threadID,
            cursorSeq: result.cursorSeq,
            lastSeq: result.lastSeq,
            unread: max(0, result.lastSeq - result.cursorSeq),
            deduplicated: result.deduplicated
        )
    }

    public func inbox(_ input: InboxInput, context: CallContext) async throws(BridgeError) -> InboxOutput {
        try authorize(PolicyRequest(identity: context.identity, operation: .inbox), context: context)
        let limit = configuration.limits.readLimit(input.limit)
        let result = try await longPoll(threads: nil, waitSeconds: input.waitSeconds) { () async throws(BridgeError) in
            let result = try await store.inbox(limit: limit, context: context)
            return result.messages.isEmpty ? nil : result
        } final: { () async throws(BridgeError) in
            try await store.inbox(limit: limit, context: context)
        }
        return InboxOutput(messages: result.messages, hasMore: result.hasMore)
    }

    // MARK: - Helpers

    /// Queries until `attempt` finds something or the wait runs out, woken by the post NOTIFY rather than a timer.
    /// The waiter is registered before each query, so a message committed in between is never missed.
    ///
    /// The answer comes by the wait plus ``longPollGrace`` in every case: every query is bounded by that deadline.
    /// A query that finds the database unavailable while time remains is retried when the listener is back or after
    /// a short pause, so a restart shorter than the wait costs the reader nothing; at the deadline the last
    /// query's answer, or its `UNAVAILABLE`, is the result.
    func longPoll<Result: Sendable>(
        threads: Set<UUID>?,
        waitSeconds: Double?,
        _ attempt: () async throws(BridgeError) -> Result?,
        final: () async throws(BridgeError) -> Result
    ) async throws(BridgeError) -> Result {
        let wait = configuration.limits.waitSeconds(waitSeconds)
        guard wait > 0 else { return try await final() }
        return try await longPoll(threads: threads, until: ContinuousClock.now + .milliseconds(Int64(wait * 1000)), attempt, final: final)
    }

    /// ``longPoll(threads:waitSeconds:_:final:)`` up to a deadline the caller chose, not capped by `max_wait_seconds`:
    /// a permission prompt waits as long as its ticket lives. A cancelled task stops waiting at once and calls `final`.
    func longPoll<Result: Sendable>(
        threads: Set<UUID>?,
        until deadline: ContinuousClock.Instant,
        _ attempt: () async throws(BridgeError) -> Result?,
        final: () async throws(BridgeError) -> Result
    ) async throws(BridgeError) -> Result {
        let hub = store.notifications
        let waiter = hub.register(threads: threads)
        defer { hub.unregister(waiter) }
        func poll() async throws(BridgeError) -> Result {
            while true {
                var pause = Duration.seconds(5)
                do throws(BridgeError) {
                    if let found = try await attempt() { return found }
                } catch  where error.code == .unavailable {
                    pause = .milliseconds(250)
                }
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero || Task.isCancelled { break }
                // A safety re-check every few seconds in case the listener is reconnecting; sooner after a failure.
                _ = await hub.wait(waiter, timeout: min(remaining, pause))
                if Task.isCancelled { break }
            }
            return try await final()
        }
        let outcome = await OperationDeadline.$current.withValue(deadline + Self.longPollGrace) { () async -> Swift.Result<Result, BridgeError> in
            do throws(BridgeError) {
                return .success(try await poll())
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// How long after its wait a long poll may still be finishing its last query.
    static let longPollGrace = Duration.seconds(1)

    static func unique(_ handles: [String]) -> [String] {
        var seen = Set<String>()
        return handles.filter { seen.insert($0).inserted }
    }
}
