import BridgeCore
import BridgeMCP
import BridgeService
import BridgeStore
import Foundation
import Logging
import PostgresNIO

/// What one tool call came to.
struct CallOutcome: Sendable {
    /// `OK`, or the error's reason code.
    var result: String
    var code: String?
    var structured: JSONValue?
}

extension DrillReplay {
    /// Performs one step and describes it for the report.
    func perform(_ step: DrillScenario.Step) async throws(DrillError) -> DrillReport.StepLine {
        let at = step.at
        if let post = step.post {
            let id = threadIDs[post.thread]!
            var arguments: [String: JSONValue] = [
                "thread_id": .string(id.wireString), "body": .string(post.body), "kind": .string(post.kind ?? "note"),
            ]
            if let to = post.to { arguments["to"] = .array(to.map { .string($0) }) }
            let outcome = await call(as: post.as, tool: "v1_message_post", arguments: arguments)
            if outcome.result == "OK", let seq = outcome.structured?["message"]?["seq"]?.int64Value {
                storedPosts.append((id, seq, post.body))
            }
            let target = post.to.map { " → \($0.joined(separator: ", "))" } ?? ""
            return line(at, "\(post.as) posts a \(post.kind ?? "note")\(target) in \(post.thread)", outcome, expected: post.expect)
        }
        if let spec = step.call {
            var arguments: [String: JSONValue] = [:]
            if case .object(let object)? = spec.args { arguments = object }
            if let thread = spec.thread, let id = threadIDs[thread] { arguments["thread_id"] = .string(id.wireString) }
            let outcome = await call(
                as: spec.as,
                role: spec.role.flatMap(Role.init(rawValue:)),
                token: spec.token,
                tool: spec.tool,
                arguments: arguments
            )
            let how = spec.token.map { " with a \($0.replacingOccurrences(of: "_", with: "-")) token" } ?? ""
            return line(at, "\(spec.as) calls \(spec.tool)\(how)", outcome, expected: spec.expect)
        }
        if let heartbeat = step.heartbeat {
            var arguments: [String: JSONValue] = ["presence": .string(heartbeat.presence ?? "active")]
            if heartbeat.humanInput == true { arguments["human_input"] = .bool(true) }
            let outcome = await call(as: heartbeat.as, tool: "v1_participant_heartbeat", arguments: arguments)
            // The database stamps heartbeats with its own clock; the drill's clock is the one that decides.
            let now = clock.now()
            let human = heartbeat.humanInput == true
            _ = try? await store.client.query(
                """
                UPDATE participants SET last_heartbeat_at = \(now),
                       last_human_input_at = CASE WHEN \(human) THEN \(now) ELSE last_human_input_at END
                 WHERE workspace_id = \(workspace) AND handle = \(heartbeat.as)
                """,
                logger: logger
            )
            return line(at, "\(heartbeat.as) heartbeats\(human ? " (a human is typing)" : "")", outcome, expected: nil)
        }
        if let ack = step.ack {
            let id = threadIDs[ack.thread]!
            let read = await call(as: ack.as, tool: "v1_message_read", arguments: ["thread_id": .string(id.wireString), "limit": .integer(500)])
            var outcome = read
            if read.result == "OK", let last = read.structured?["last_seq"]?.int64Value, last > 0 {
                outcome = await call(as: ack.as, tool: "v1_message_ack", arguments: ["thread_id": .string(id.wireString), "seq": .integer(last)])
            }
            return line(at, "\(ack.as) reads \(ack.thread) to the end and acks", outcome, expected: nil)
        }
        if let outcomes = step.outcomes {
            for (handle, list) in outcomes.sorted(by: { $0.key < $1.key }) {
                do {
                    try runtime.setOutcomes(list, for: handle)
                } catch {
                    throw DrillError("\(scenario.name): cannot script \(handle)'s runtime: \(error)")
                }
            }
            let text = outcomes.sorted(by: { $0.key < $1.key }).map { "\($0.key): \($0.value.joined(separator: ", "))" }.joined(separator: "; ")
            return DrillReport.StepLine(at: at, action: "runtime outcomes from now: \(text)", outcome: "set", passed: true)
        }
        if let spec = step.operator {
            let id = threadIDs[spec.thread]!
            guard let transition = ThreadStatus.Transition(rawValue: spec.action) else {
                throw DrillError("\(scenario.name): operator action \(spec.action) is not escalate, unblock or close")
            }
            let context = CallContext(
                identity: Identity(workspace: workspace, handle: "drill-operator", role: .operator, origin: .operator),
                requestID: "drill_\(UUID().wireString.prefix(8))"
            )
            var outcome = CallOutcome(result: "OK")
            do throws(BridgeError) {
                _ = try await service.operatorSetStatus(id, transition: transition, reason: spec.reason, context: context)
            } catch {
                outcome = record(error)
            }
            return line(at, "operator: \(spec.action)-thread \(spec.thread) (\(spec.reason))", outcome, expected: nil)
        }
        if let action = step.database {
            if action == "stop" {
                try await database.stop()
                databaseStopped = true
            } else {
                try await database.start()
                databaseStopped = false
                try await waitFor("the database to answer again", timeout: .seconds(30)) { [store] in
                    (try? await store.schemaVersion()) != nil
                }
            }
            return DrillReport.StepLine(at: at, action: "database \(action)", outcome: "done", passed: true)
        }
        if let lock = step.lock {
            let id = threadIDs[lock.thread]!
            if lock.hold {
                lockHolder = try await DrillLockHolder.hold(threadID: id, endpoint: database.endpoint, logger: logger)
            } else {
                await lockHolder?.release()
                lockHolder = nil
            }
            return DrillReport.StepLine(
                at: at,
                action: "another session \(lock.hold ? "locks" : "releases") \(lock.thread)'s row",
                outcome: "done",
                passed: true
            )
        }
        return DrillReport.StepLine(at: at, action: step.note ?? "", outcome: "", passed: true)
    }

    private func line(_ at: String, _ action: String, _ outcome: CallOutcome, expected: String?) -> DrillReport.StepLine {
        let expected = expected ?? "OK"
        return DrillReport.StepLine(
            at: at,
            action: action,
            outcome: outcome.code.map { "\($0)/\(outcome.result)" } ?? outcome.result,
            passed: outcome.result == expected,
            expected: expected
        )
    }

    /// Calls a tool through the real router as `handle`: in local identity mode, or with a token of the given kind.
    func call(as handle: String, role: Role? = nil, token: String? = nil, tool: String, arguments: [String: JSONValue]) async -> CallOutcome {
        let identity = Identity(workspace: workspace, handle: handle, role: role ?? self.role(of: handle))
        let provider: CallerIdentity
        if let token {
            let presented = try? await tokens.token(token, for: identity)
            let authority = tokens.authority(for: token)
            provider = CallerIdentity(mode: .token) { () async throws(BridgeError) -> Identity in
                guard let presented else { throw BridgeError(.internal, .internalError, "The drill could not issue its token.") }
                let claims = try await authority.verify(presented)
                return Identity(workspace: claims.workspace, handle: claims.handle, role: claims.role)
            }
        } else {
            provider = CallerIdentity(mode: .local) { () async throws(BridgeError) -> Identity in identity }
        }
        let router = ToolRouter(catalog: tools, service: service, identity: provider, logger: logger, stats: apiStats, presence: presence)
        var arguments = arguments
        arguments["schema_version"] = .string(SchemaVersion.current)
        let result: ToolRouter.Result
        do throws(ToolRouter.UnknownTool) {
            result = try await router.call(name: tool, arguments: arguments)
        } catch {
            return CallOutcome(result: "PROTOCOL_ERROR")
        }
        // serve writes presence within a second; the drill writes it at once, so its clock alone decides.
        await PresenceFlusher(presence: presence, service: service, logger: logger).flush()
        let structured = result.structured
        guard result.isError else { return CallOutcome(result: "OK", structured: structured) }
        let error = structured["error"]?.objectValue
        let outcome = CallOutcome(result: error?["reason"]?.stringValue ?? "UNKNOWN", code: error?["code"]?.stringValue, structured: structured)
        note(outcome, tool: tool)
        return outcome
    }

    private func record(_ error: BridgeError) -> CallOutcome {
        let outcome = CallOutcome(result: error.reason.rawValue, code: error.code.rawValue)
        note(outcome, tool: "operator")
        return outcome
    }

    private func note(_ outcome: CallOutcome, tool: String) {
        reasonsSeen.insert(outcome.result)
        if outcome.code == BridgeError.Code.internal.rawValue {
            internalErrors.append("\(tool) at \(Duration.text(elapsed))")
        }
    }
}

/// A second session that holds a thread's row lock, as a stuck transaction or a long migration would.
struct DrillLockHolder: Sendable {
    let connection: PostgresConnection
    let logger: Logger

    static func hold(threadID: UUID, endpoint: DatabaseEndpoint, logger: Logger) async throws(DrillError) -> DrillLockHolder {
        do {
            let connection = try await PostgresConnection.connect(configuration: endpoint.connectionConfiguration(), id: 1, logger: logger)
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT id FROM threads WHERE id = \(threadID) FOR UPDATE", logger: logger)
            return DrillLockHolder(connection: connection, logger: logger)
        } catch {
            throw DrillError("cannot hold the thread's lock: \(String(reflecting: error))")
        }
    }

    func release() async {
        _ = try? await connection.query("ROLLBACK", logger: logger)
        try? await connection.close()
    }
}

/// The tokens a drill presents: signed by the drill's key, expired, signed by a stranger's key, or checked
/// against a key file that cannot be read (the issuer's key is gone).
struct DrillTokens: Sendable {
    let issuer: TokenAuthority
    let stranger: TokenAuthority
    let missing: TokenAuthority
    let workspace: String

    static func make(directory: String, workspace: String) async throws(DrillError) -> DrillTokens {
        do {
            try TokenAuthority.generateKeyFile(at: "\(directory)/token.key", algorithm: .eddsa)
            try TokenAuthority.generateKeyFile(at: "\(directory)/stranger.key", algorithm: .eddsa)
        } catch {
            throw DrillError("cannot create the drill's token keys: \(error)")
        }
        return DrillTokens(
            issuer: TokenAuthority(keyFile: "\(directory)/token.key"),
            stranger: TokenAuthority(keyFile: "\(directory)/stranger.key"),
            missing: TokenAuthority(keyFile: "\(directory)/no-such.key"),
            workspace: workspace
        )
    }

    /// Who checks a token of this kind.
    func authority(for kind: String) -> TokenAuthority {
        kind == "issuer_down" ? missing : issuer
    }

    func token(_ kind: String, for identity: Identity) async throws(BridgeError) -> String {
        switch kind {
        case "expired":
            return try await issuer.issue(
                handle: identity.handle,
                role: identity.role,
                workspace: workspace,
                ttl: .seconds(3600),
                now: Date().addingTimeInterval(-7200)
            )
        case "mis_signed":
            return try await stranger.issue(handle: identity.handle, role: identity.role, workspace: workspace, ttl: .seconds(3600))
        default:
            return try await issuer.issue(handle: identity.handle, role: identity.role, workspace: workspace, ttl: .seconds(3600))
        }
    }
}

extension Duration {
    /// `1m05s`-style text for reports.
    static func text(_ duration: Duration) -> String {
        let total = Int(duration.components.seconds)
        if total < 60 { return "\(total)s" }
        let minutes = total / 60
        let seconds = total % 60
        return seconds == 0 ? "\(minutes)m" : "\(minutes)m\(String(format: "%02d", seconds))s"
    }
}
