import ArgumentParser
import BridgeCore
import BridgeService
import BridgeStore
import Foundation
import Logging

/// Options every operator command shares: who the operator is, which workspace, which database and catalog.
struct OperatorOptions: ParsableArguments {
    @Option(name: .customLong("operator"), help: "Your name in the audit trail (operator:NAME). Default: the OS user.")
    var operatorName: String?

    @Option(help: "The workspace to act in. Default: $AGENT_BRIDGE_WORKSPACE, else local.")
    var workspace: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    /// The operator's identity: role `operator`, origin `.operator`, so audit rows read `operator:NAME`.
    func identity() throws -> Identity {
        let name = operatorName ?? Self.osUser()
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "_.-@".contains($0) }) else {
            throw ValidationError("operator \"\(name)\" is not a usable name: use up to 64 letters, digits, '_', '.', '-', '@'.")
        }
        return Identity(workspace: resolveWorkspace(workspace), handle: name, role: .operator, origin: .operator)
    }

    private static func osUser() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let user = environment["USER"] ?? environment["LOGNAME"], !user.isEmpty { return user }
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "unknown"
    }

    /// Runs `body` against the service as this operator. Any refusal prints one line to stderr and exits:
    /// 1 for a refused or invalid request (unknown id, invalid transition, policy), 3 when the database is unavailable.
    func run<T: Sendable>(_ body: @escaping @Sendable (BridgeAPI, CallContext) async throws(BridgeError) -> T) async throws -> T {
        let identity = try identity()
        let logger = database.bootstrapLogging(defaultLevel: .warning)
        let policyCatalog = catalog.loadOrExit()
        let outcome: Result<T, BridgeError>
        do {
            let setup = try DatabaseSetup(options: database, logger: logger)
            try await setup.startClusterIfNeeded()
            outcome = .success(
                try await withStore(setup.endpoint, logger: logger) { store async throws(BridgeError) in
                    try await setup.prepareSchema(store, logger: logger)
                    let service = BridgeAPI(
                        configuration: .init(serverVersion: AgentBridge.version, catalog: policyCatalog),
                        store: store,
                        logger: logger
                    )
                    let context = CallContext(identity: identity, requestID: "req_cli_\(UUID().wireString.prefix(12).lowercased())")
                    return try await body(service, context)
                }
            )
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error):
            exitWithError(
                error.message + Self.hint(for: error, workspace: identity.workspace),
                code: error.code == .unavailable || error.code == .deadlineExceeded ? 3 : 1
            )
        }
    }

    private static func hint(for error: BridgeError, workspace: String) -> String {
        switch error.reason {
        case .threadNotFound: " (looked in workspace \"\(workspace)\"; pass --workspace for another)"
        case .ticketNotFound: " (looked in workspace \"\(workspace)\"; list tickets with: agent-bridge approvals list)"
        default: ""
        }
    }
}

/// Parses a thread or ticket id given on the command line.
func parseID(_ text: String, what: String) throws -> UUID {
    guard let id = UUID(uuidString: text.trimmingCharacters(in: .whitespaces)) else {
        throw ValidationError("\(what) \"\(text)\" is not a UUID like 3f2a8c1e-5b7d-4e9a-a1c2-0d4e6f8b9a10.")
    }
    return id
}

/// Prints `value` as stable JSON (sorted keys, ISO-8601 UTC times) for scripts.
func printJSON(_ value: some Encodable) throws {
    print(String(decoding: JSONWriter.data(try JSONValueEncoder().encode(value), prettyPrinted: true), as: UTF8.self))
}

// MARK: - Threads

/// `agent-bridge inspect-thread`: everything about one thread, for a person or (`--json`) a script.
struct InspectThread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect-thread",
        abstract: "Show a thread: status, participants and cursors, recent messages, approval tickets, wake requests, audit tail.",
        discussion: """
            Example:
              agent-bridge inspect-thread --thread-id 3f2a8c1e-5b7d-4e9a-a1c2-0d4e6f8b9a10
              agent-bridge inspect-thread --thread-id 3f2a… --json | jq '.tickets[] | select(.state == "pending")'
            """
    )

    @Option(name: .customLong("thread-id"), help: "The thread's id.")
    var threadID: String

    @Option(help: "How many of the newest messages to show.")
    var messages: Int = 20

    @Option(help: "How many of the newest audit events to show.")
    var audit: Int = 20

    @Flag(help: "Print JSON (stable keys) instead of text.")
    var json = false

    @OptionGroup var options: OperatorOptions

    func run() async throws {
        let id = try parseID(threadID, what: "thread id")
        let (messages, audit) = (self.messages, self.audit)
        let inspection = try await options.run { service, context async throws(BridgeError) in
            try await service.inspectThread(id, messageLimit: messages, auditLimit: audit, context: context)
        }
        if json {
            try printJSON(inspection)
        } else {
            print(Self.render(inspection))
        }
    }

    static func render(_ inspection: ThreadInspection) -> String {
        let thread = inspection.thread
        var lines: [String] = []
        lines.append("Thread \(Display.id(thread.id))  \"\(thread.title)\"")
        var facts = TextTable("", "")
        facts.rows = [
            ["status", thread.status.rawValue + (thread.statusReason.map { "  (\($0))" } ?? "")],
            ["outcome", thread.outcome ?? "-"],
            ["created", "\(Display.date(thread.createdAt)) by \(thread.createdBy)"],
            ["updated", Display.date(thread.updatedAt)],
            ["last seq", "\(thread.lastSeq)"],
            ["autonomous", thread.autonomous ? "yes" : "no"],
        ]
        lines.append(facts.render().split(separator: "\n").dropFirst().joined(separator: "\n"))

        lines.append("")
        lines.append("Participants (\(inspection.participants.filter { $0.leftAt == nil }.count) current)")
        var members = TextTable("HANDLE", "ROLE", "CURSOR", "UNREAD", "PRESENCE", "LAST SEEN", "JOINED", "LEFT")
        for member in inspection.participants {
            members.add(
                member.handle,
                member.role.rawValue,
                "\(member.cursorSeq)",
                "\(member.unread)",
                member.presence?.rawValue ?? "-",
                Display.date(member.lastSeenAt),
                Display.date(member.joinedAt),
                Display.date(member.leftAt)
            )
        }
        lines.append(inspection.participants.isEmpty ? "  (none)" : members.render())

        lines.append("")
        lines.append("Recent messages (\(inspection.recentMessages.count) of \(thread.lastSeq))")
        var messages = TextTable("SEQ", "AT", "AUTHOR", "KIND", "TO", "BODY")
        for message in inspection.recentMessages {
            messages.add(
                "\(message.seq)",
                Display.date(message.createdAt),
                message.author,
                message.kind.rawValue,
                message.to.isEmpty ? "all" : message.to.joined(separator: ","),
                Display.excerpt(message.body)
            )
        }
        lines.append(inspection.recentMessages.isEmpty ? "  (none)" : messages.render())

        lines.append("")
        lines.append("Approval tickets (\(inspection.tickets.count))")
        var tickets = TextTable("ID", "STATE", "ACTION", "RESOURCE", "REQUESTER", "DECIDER", "CREATED", "EXPIRES")
        for ticket in inspection.tickets {
            tickets.add(
                Display.id(ticket.id),
                ticket.state.rawValue,
                ticket.actionClass,
                Display.excerpt(ticket.resource, limit: 40),
                ticket.requester,
                ticket.decider ?? "-",
                Display.date(ticket.createdAt),
                Display.date(ticket.expiresAt)
            )
        }
        lines.append(inspection.tickets.isEmpty ? "  (none)" : tickets.render())

        lines.append("")
        lines.append("Wake requests (newest \(inspection.wakes.count))")
        var wakes = TextTable("ID", "TARGET", "STATE", "REASON", "SEQ", "ATTEMPTS", "BY", "CREATED")
        for wake in inspection.wakes {
            let attempts = wake.attempts.map { "\($0.action.rawValue):\($0.outcome.rawValue)\($0.exitCode.map { "(\($0))" } ?? "")" }
            wakes.add(
                Display.id(wake.id),
                wake.target,
                wake.state.rawValue,
                wake.reason ?? "-",
                "\(wake.triggerSeq)",
                attempts.isEmpty ? "-" : attempts.joined(separator: " "),
                wake.requestedBy,
                Display.date(wake.createdAt)
            )
        }
        lines.append(inspection.wakes.isEmpty ? "  (none)" : wakes.render())

        lines.append("")
        lines.append("Live sessions (\(inspection.sessions.count))")
        lines.append(inspection.sessions.isEmpty ? "  (none)" : Sessions.table(inspection.sessions).render())

        lines.append("")
        lines.append("Audit (newest \(inspection.audit.count))")
        var audit = TextTable("AT", "ACTOR", "ACTION", "TARGET", "REASON")
        for event in inspection.audit {
            audit.add(Display.date(event.at), event.actor, event.action, event.target, Display.excerpt(event.reason, limit: 50))
        }
        lines.append(inspection.audit.isEmpty ? "  (none)" : audit.render())
        return lines.joined(separator: "\n")
    }
}

/// The shared shape of escalate-thread, unblock-thread and override-close-thread.
struct StatusCommandOptions: ParsableArguments {
    @Option(name: .customLong("thread-id"), help: "The thread's id.")
    var threadID: String

    @Option(help: "Why: posted to the thread as a system message and kept in the audit trail.")
    var reason: String

    @Flag(help: "Print the thread as JSON instead of a sentence.")
    var json = false

    @OptionGroup var options: OperatorOptions

    func perform(_ transition: ThreadStatus.Transition) async throws {
        let id = try parseID(threadID, what: "thread id")
        let reason = self.reason
        let output = try await options.run { service, context async throws(BridgeError) in
            try await service.operatorSetStatus(id, transition: transition, reason: reason, context: context)
        }
        if json {
            try printJSON(output)
        } else {
            let thread = output.thread.thread
            print("Thread \(Display.id(thread.id)) \"\(thread.title)\": \(output.previousStatus.rawValue) → \(thread.status.rawValue) (\(reason))")
        }
    }
}

struct EscalateThread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalate-thread",
        abstract: "Block an active thread for human attention (active → blocked).",
        discussion: "Example: agent-bridge escalate-thread --thread-id ID --reason \"agents disagree on the migration order\""
    )
    @OptionGroup var command: StatusCommandOptions
    func run() async throws { try await command.perform(.escalate) }
}

struct UnblockThread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unblock-thread",
        abstract: "Let a blocked thread continue (blocked → active).",
        discussion: "Example: agent-bridge unblock-thread --thread-id ID --reason \"decided: migrate users first\""
    )
    @OptionGroup var command: StatusCommandOptions
    func run() async throws { try await command.perform(.unblock) }
}

struct OverrideCloseThread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "override-close-thread",
        abstract: "Close a thread as a human override (active or blocked → closed).",
        discussion: """
            The reason must start with human_override: and say why, e.g.
              agent-bridge override-close-thread --thread-id ID --reason "human_override: superseded by PR 42"
            """
    )
    @OptionGroup var command: StatusCommandOptions
    func run() async throws { try await command.perform(.close) }
}

// MARK: - Approvals

/// `agent-bridge approvals list|approve|deny`.
struct Approvals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals",
        abstract: "List approval tickets and decide them as an operator.",
        subcommands: [List.self, Approve.self, Deny.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List tickets, newest first.",
            discussion: "Example: agent-bridge approvals list --state pending"
        )

        @Option(help: "Only this state: pending, approved, denied, expired or cancelled.")
        var state: String?

        @Option(name: .customLong("thread-id"), help: "Only this thread's tickets.")
        var threadID: String?

        @Option(help: "At most this many (1-200).")
        var limit: Int = 50

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        @OptionGroup var options: OperatorOptions

        func run() async throws {
            var stateFilter: ApprovalTicket.State?
            if let state {
                guard let parsed = ApprovalTicket.State(rawValue: state) else {
                    throw ValidationError(
                        "state \"\(state)\" is not one of: \(ApprovalTicket.State.allCases.map(\.rawValue).joined(separator: ", "))."
                    )
                }
                stateFilter = parsed
            }
            let thread = try threadID.map { try parseID($0, what: "thread id") }
            let input = ApprovalListInput(state: stateFilter, threadID: thread, limit: limit)
            let output = try await options.run { service, context async throws(BridgeError) in
                try await service.listApprovals(input, context: context)
            }
            if json {
                try printJSON(output)
                return
            }
            guard !output.tickets.isEmpty else {
                print("No tickets\(state.map { " in state \($0)" } ?? "").")
                return
            }
            var table = TextTable("ID", "STATE", "ACTION", "RESOURCE", "REQUESTER", "CREATED", "EXPIRES", "THREAD")
            for ticket in output.tickets {
                table.add(
                    Display.id(ticket.id),
                    ticket.state.rawValue,
                    ticket.actionClass,
                    Display.excerpt(ticket.resource, limit: 40),
                    ticket.requester,
                    Display.date(ticket.createdAt),
                    Display.date(ticket.expiresAt),
                    Display.id(ticket.threadID)
                )
            }
            print(table.render(indent: ""))
        }
    }

    struct Decision: ParsableArguments {
        @Option(name: .customLong("ticket-id"), help: "The ticket's id (see: agent-bridge approvals list).")
        var ticketID: String

        @Option(help: "A note for the requester, posted with the decision.")
        var note: String?

        @Flag(help: "Print the ticket as JSON instead of a sentence.")
        var json = false

        @OptionGroup var options: OperatorOptions

        func decide(_ decision: ApprovalDecideInput.Decision) async throws {
            let id = try parseID(ticketID, what: "ticket id")
            let input = ApprovalDecideInput(ticketID: id, decision: decision, note: note)
            let output = try await options.run { service, context async throws(BridgeError) in
                try await service.decideApproval(input, decider: context.identity.auditActor, context: context, idempotency: nil)
            }
            if json {
                try printJSON(output)
            } else {
                let ticket = output.ticket
                print(
                    "Ticket \(Display.id(ticket.id)) \(ticket.state.rawValue): \(ticket.actionClass) on \(ticket.resource), requested by \(ticket.requester)."
                )
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a pending ticket.",
            discussion: "Example: agent-bridge approvals approve --ticket-id ID --note \"ok for staging\""
        )
        @OptionGroup var decision: Decision
        func run() async throws { try await decision.decide(.approve) }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deny a pending ticket.",
            discussion: "Example: agent-bridge approvals deny --ticket-id ID --note \"not on main\""
        )
        @OptionGroup var decision: Decision
        func run() async throws { try await decision.decide(.deny) }
    }
}
