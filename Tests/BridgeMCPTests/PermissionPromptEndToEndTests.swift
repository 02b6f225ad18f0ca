import BridgeCore
import BridgeMCP
import BridgeService
import BridgeTestSupport
import Foundation
import Testing

/// `v1_permission_prompt` through the real binary, called as `claude -p --permission-prompt-tool` calls it:
/// policy answers at once for reads and destructive commands, a write waits for an operator's decision made
/// with `agent-bridge approvals`, and a session with no thread is denied.
@Suite struct PermissionPromptEndToEndTests {
    let catalog = try! ToolCatalog.bundled()

    typealias CallResult = (isError: Bool, structured: [String: Any], text: String)

    func cli(_ database: TestDatabase, _ arguments: [String]) async throws -> CommandRun {
        try await CommandRun.agentBridge(arguments + ["--database-url", database.url], environment: ["USER": "ops-person"])
    }

    func tickets(_ database: TestDatabase, state: String? = nil) async throws -> [[String: Any]] {
        let run = try await cli(database, ["approvals", "list", "--json"] + (state.map { ["--state", $0] } ?? []))
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        return object["tickets"] as? [[String: Any]] ?? []
    }

    /// The answer is a successful result whose one text block and structured content are the same object, in the
    /// exact contract shape, conforming to the published output schema.
    func answer(_ result: CallResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(!result.isError, "a permission answer is never a tool error: \(result.text)", sourceLocation: sourceLocation)
        let text = try #require(JSONSerialization.jsonObject(with: Data(result.text.utf8)) as? [String: Any], sourceLocation: sourceLocation)
        #expect(NSDictionary(dictionary: text).isEqual(to: result.structured), "text and structuredContent agree", sourceLocation: sourceLocation)
        let value = try JSONValue(parsing: JSONSerialization.data(withJSONObject: result.structured))
        let validate = try #require(catalog.outputValidator(for: "v1_permission_prompt"))
        #expect(throws: Never.self, "the answer matches its output schema", sourceLocation: sourceLocation) { try validate(value) }
        let keys = Set(result.structured.keys)
        #expect(
            keys == ["behavior", "updatedInput"] || keys == ["behavior", "message"],
            "exactly the contract's members: \(keys)",
            sourceLocation: sourceLocation
        )
        return result.structured
    }

    /// Whether `value` is `input` as JSON (compared in one canonical form: Foundation's Linux dictionaries do not
    /// equate a parsed number with a Swift literal).
    func isInput(_ value: Any?, _ input: [String: Any]) -> Bool {
        guard let value = value as? [String: Any],
            let got = try? JSONSerialization.data(withJSONObject: value, options: .sortedKeys),
            let expected = try? JSONSerialization.data(withJSONObject: input, options: .sortedKeys)
        else { return false }
        return got == expected
    }

    @Test func policyAnswersAtOnceAndAnOperatorDecidesTheRest() async throws {
        let database = try await TestDatabase.create()
        let lead = try MCPClient(databaseURL: database.url, participant: "lead")
        _ = try await lead.initialize()
        let created = try await lead.call(
            "v1_thread_create",
            ["title": "fix the build", "participants": [["handle": "worker", "role": "executioner"]]]
        )
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        // As the supervisor starts a woken agent's CLI, which starts serve with the thread in its environment.
        let worker = try MCPClient(
            databaseURL: database.url,
            participant: "worker",
            role: "executioner",
            extraEnvironment: ["AGENT_BRIDGE_WAKE_THREAD_ID": thread]
        )
        _ = try await worker.initialize()

        // A destructive command: denied by policy with its reason code; no ticket.
        let remove: [String: Any] = ["command": "rm -rf /tmp/x", "description": "clean up"]
        let denied = try answer(try await worker.call("v1_permission_prompt", ["tool_name": "Bash", "input": remove, "tool_use_id": "toolu_01"]))
        #expect(denied["behavior"] as? String == "deny")
        let deniedMessage = try #require(denied["message"] as? String)
        #expect(deniedMessage.hasSuffix("(DESTRUCTIVE_COMMAND)"), "\(deniedMessage)")
        #expect(try await tickets(database).isEmpty, "a policy denial opens no ticket")

        // A read: allowed at once, with the input unchanged.
        let read: [String: Any] = ["file_path": "/work/Package.swift", "limit": 20]
        let allowed = try answer(try await worker.call("v1_permission_prompt", ["tool_name": "Read", "input": read, "tool_use_id": "toolu_02"]))
        #expect(allowed["behavior"] as? String == "allow")
        #expect(isInput(allowed["updatedInput"], read), "\(allowed)")
        #expect(try await tickets(database).isEmpty)

        // An edit: a ticket in the wake thread, the call waits, an operator approves.
        let edit: [String: Any] = ["file_path": "Sources/App/main.swift", "old_string": "let x = 1", "new_string": "let x = 2"]
        let editArguments: [String: Any] = ["tool_name": "Edit", "input": edit, "tool_use_id": "toolu_03"]
        nonisolated(unsafe) let waitingArguments = editArguments
        let waiting = Task { Handed(try await worker.call("v1_permission_prompt", waitingArguments)) }
        var pending: [[String: Any]] = []
        try await waitUntil("the edit's ticket is open", timeout: .seconds(20)) {
            pending = try await tickets(database, state: "pending")
            return !pending.isEmpty
        }
        let ticket = try #require(pending.first)
        #expect(pending.count == 1)
        #expect(ticket["action_class"] as? String == "fs_write")
        #expect(ticket["resource"] as? String == "Sources/App/main.swift")
        #expect((ticket["thread_id"] as? String)?.lowercased() == thread.lowercased(), "opened in the thread the agent was woken for")
        #expect(ticket["requester"] as? String == "worker")
        let ticketID = try #require(ticket["id"] as? String)
        let approved = try await cli(database, ["approvals", "approve", "--ticket-id", ticketID, "--note", "go ahead"])
        #expect(approved.status == 0, "\(approved.stderr)")
        let decided = try answer(try await waiting.value.result)
        #expect(decided["behavior"] as? String == "allow")
        #expect(isInput(decided["updatedInput"], edit), "\(decided)")

        // The same tool use asked again waits on the same ticket, which is decided: the same answer at once.
        let replayed = try answer(try await worker.call("v1_permission_prompt", editArguments))
        #expect(replayed["behavior"] as? String == "allow")
        #expect(try await tickets(database).count == 1, "one ticket per tool use")

        // A write the operator denies: deny with the operator's note and the reason code.
        let write: [String: Any] = ["file_path": "/etc/passwd", "content": "root::0:0::/root:/bin/sh"]
        nonisolated(unsafe) let writeArguments: [String: Any] = ["tool_name": "Write", "input": write, "tool_use_id": "toolu_04"]
        let refused = Task { Handed(try await worker.call("v1_permission_prompt", writeArguments)) }
        try await waitUntil("the write's ticket is open", timeout: .seconds(20)) {
            pending = try await tickets(database, state: "pending")
            return !pending.isEmpty
        }
        let writeTicket = try #require(pending.first?["id"] as? String)
        let deniedRun = try await cli(database, ["approvals", "deny", "--ticket-id", writeTicket, "--note", "not that file", "--operator", "dana"])
        #expect(deniedRun.status == 0, "\(deniedRun.stderr)")
        let refusal = try answer(try await refused.value.result)
        #expect(refusal["behavior"] as? String == "deny")
        let refusalMessage = try #require(refusal["message"] as? String)
        for expected in ["not that file", "operator:dana", writeTicket.lowercased(), "(DENIED_BY_APPROVER)"] {
            #expect(refusalMessage.lowercased().contains(expected.lowercased()), "\(expected) in \(refusalMessage)")
        }

        // The decisions are in the thread, for the agent and the humans.
        let messages = try await worker.call("v1_message_read", ["thread_id": thread, "limit": 100])
        let bodies = ((messages.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["body"] as? String }
        #expect(bodies.contains { $0.contains("Approval requested by worker: [fs_write] Sources/App/main.swift") }, "\(bodies)")
        for client in [worker, lead] { #expect(await client.closeAndWait() == 0) }
    }

    @Test func withoutAThreadAPromptThatNeedsAHumanIsDenied() async throws {
        let database = try await TestDatabase.create()
        let worker = try MCPClient(databaseURL: database.url, participant: "worker", role: "executioner")
        _ = try await worker.initialize()
        let denied = try answer(
            try await worker.call(
                "v1_permission_prompt",
                [
                    "tool_name": "Edit", "input": ["file_path": "a.swift", "old_string": "a", "new_string": "b"], "tool_use_id": "toolu_09",
                ]
            )
        )
        #expect(denied["behavior"] as? String == "deny")
        #expect((denied["message"] as? String)?.hasSuffix("(NO_PERMISSION_THREAD)") == true, "\(denied)")
        // Policy answers need no thread.
        let read = try answer(try await worker.call("v1_permission_prompt", ["tool_name": "Grep", "input": ["pattern": "TODO"]]))
        #expect(read["behavior"] as? String == "allow")
        #expect(try await tickets(database).isEmpty)

        // Arguments that do not fit are a tool error with a code and reason, like any tool's.
        let malformed = try await worker.call("v1_permission_prompt", ["tool_name": "Bash"])
        #expect(malformed.isError)
        #expect((malformed.structured["error"] as? [String: Any])?["reason"] as? String == "MISSING_REQUIRED_FIELD", "\(malformed.text)")
        #expect(await worker.closeAndWait() == 0)
    }
}

extension PermissionPromptEndToEndTests {
    @Test func policyCheckShowsTheRulesAndNamesTheLineOfABadOne() async throws {
        let valid = try await CommandRun.agentBridge(["policy", "check"])
        #expect(valid.status == 0, "\(valid.stderr)")
        for expected in [
            "permission Bash → process_run  (4 command patterns)", "permission Read,Glob,Grep,LS,NotebookRead → fs_read",
            "permission (any other tool) → external_side_effect",
        ] {
            #expect(valid.stdout.contains(expected), "\(expected) in \(valid.stdout)")
        }
        let folder = try CatalogFolder.make(
            approvals: """
                action_classes:
                  process_run:
                    decision: require_approval
                    approver_roles: [operator]
                permission_prompt:
                  tools:
                    - match: [Bash]
                      action_class: process_run
                      commands:
                        - pattern: 'rm -rf'
                          action_class: nuke
                  default_action_class: process_run

                """
        )
        defer { try? FileManager.default.removeItem(at: folder) }
        let invalid = try await CommandRun.agentBridge(["policy", "check", "--catalog", folder.path])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("approvals.yaml:11: unknown action class 'nuke'"), "\(invalid.stderr)")
    }
}

/// A call's result handed from the task that waited for it to the test; never shared.
private struct Handed: @unchecked Sendable {
    let result: PermissionPromptEndToEndTests.CallResult
    init(_ result: PermissionPromptEndToEndTests.CallResult) { self.result = result }
}

extension PermissionPromptEndToEndTests {
    /// A prompt waiting for a human keeps its client waiting with progress notifications (Claude Code resets its
    /// tool timeout on them), then answers with the decision.
    @Test func aPromptWaitingForAHumanSendsProgressUntilTheDecision() async throws {
        let database = try await TestDatabase.create()
        let lead = try MCPClient(databaseURL: database.url, participant: "lead")
        _ = try await lead.initialize()
        let created = try await lead.call("v1_thread_create", ["title": "deploy", "participants": [["handle": "worker", "role": "executioner"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        let worker = try MCPClient(
            databaseURL: database.url,
            participant: "worker",
            role: "executioner",
            extraEnvironment: ["AGENT_BRIDGE_WAKE_THREAD_ID": thread]
        )
        _ = try await worker.initialize()
        let id = try await worker.start(
            "tools/call",
            [
                "name": "v1_permission_prompt", "_meta": ["progressToken": "perm-1"],
                "arguments": ["tool_name": "Bash", "input": ["command": "make deploy"], "tool_use_id": "toolu_20"],
            ]
        )
        let (progress, _) = try await worker.readUntil(timeout: .seconds(12)) { $0["method"] as? String == "notifications/progress" }
        #expect((progress["params"] as? [String: Any])?["progressToken"] as? String == "perm-1")
        let ticket = try #require(try await tickets(database, state: "pending").first?["id"] as? String)
        #expect(try await cli(database, ["approvals", "approve", "--ticket-id", ticket]).status == 0)
        let (reply, _) = try await worker.readUntil(timeout: .seconds(10)) { $0["id"] as? Int == id }
        let result = try #require(reply["result"] as? [String: Any], "\(reply)")
        #expect((result["structuredContent"] as? [String: Any])?["behavior"] as? String == "allow", "\(result)")
        #expect(await worker.closeAndWait() == 0)
        #expect(await lead.closeAndWait() == 0)
    }
}
