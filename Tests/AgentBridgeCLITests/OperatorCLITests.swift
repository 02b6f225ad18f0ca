import BridgeTestSupport
import Foundation
import Testing

/// The operator CLI through the real binary, against threads and tickets that agents made over MCP.
@Suite struct OperatorCLITests {
    func cli(_ database: TestDatabase, _ arguments: [String], user: String = "ops-person") async throws -> CommandRun {
        try await CommandRun.agentBridge(arguments + ["--database-url", database.url], environment: ["USER": user])
    }

    func json(_ run: CommandRun) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "not JSON: \(run.stdout) \(run.stderr)")
    }

    func expectOneLineFailure(_ run: CommandRun, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status != 0, "must fail: \(run.stdout)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "nothing on stdout when refused: \(run.stdout)", sourceLocation: sourceLocation)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one clear line on stderr: \(run.stderr)", sourceLocation: sourceLocation)
        #expect(run.stderr.localizedCaseInsensitiveContains(text), "\(run.stderr)", sourceLocation: sourceLocation)
    }

    @Test func operatorsInspectSteerAndDecide() async throws {
        let database = try await TestDatabase.create()
        let alice = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await alice.initialize()
        let created = try await alice.call(
            "v1_thread_create",
            ["title": "migrate billing", "participants": [["handle": "bob", "role": "executioner"]]]
        )
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        #expect(try await alice.call("v1_message_post", ["thread_id": thread, "body": "plan: users table first", "to": ["bob"]]).isError == false)
        let requested = try await alice.call(
            "v1_approval_request",
            [
                "thread_id": thread, "action_class": "db_write", "resource": "billing.users", "summary": "add column",
            ]
        )
        let ticket = try #require((requested.structured["ticket"] as? [String: Any])?["id"] as? String, "\(requested.text)")

        // Inspect, for a person and for a script.
        let text = try await cli(database, ["inspect-thread", "--thread-id", thread])
        #expect(text.status == 0, "\(text.stderr)")
        for expected in ["migrate billing", "Participants", "alice", "bob", "plan: users table first", ticket.lowercased(), "pending", "Audit"] {
            #expect(text.stdout.contains(expected), "inspect-thread shows \(expected): \(text.stdout)")
        }
        let inspected = try json(try await cli(database, ["inspect-thread", "--thread-id", thread, "--json"]))
        #expect((inspected["thread"] as? [String: Any])?["title"] as? String == "migrate billing")
        #expect(((inspected["participants"] as? [[String: Any]]) ?? []).compactMap { $0["handle"] as? String }.sorted() == ["alice", "bob"])
        #expect(((inspected["recent_messages"] as? [[String: Any]]) ?? []).count >= 1)
        #expect(((inspected["tickets"] as? [[String: Any]]) ?? []).first?["state"] as? String == "pending")
        #expect(!((inspected["audit"] as? [[String: Any]]) ?? []).isEmpty)
        func lastSeen(_ inspection: [String: Any], _ handle: String) -> String? {
            ((inspection["participants"] as? [[String: Any]]) ?? []).first { $0["handle"] as? String == handle }?["last_seen_at"] as? String
        }
        #expect(lastSeen(inspected, "alice") != nil, "alice has called")
        #expect(lastSeen(inspected, "bob") == nil, "bob was added to the thread but has never called")
        let bob = try MCPClient(databaseURL: database.url, participant: "bob", role: "executioner")
        _ = try await bob.initialize()
        #expect(try await bob.call("v1_inbox").isError == false)
        // Any call by a participant marks it seen, the supervisor's ack signal: written off the call's path, within a second.
        try await waitUntil("bob's call marks him seen", timeout: .seconds(10)) {
            lastSeen(try json(try await cli(database, ["inspect-thread", "--thread-id", thread, "--json"])), "bob") != nil
        }
        #expect(await bob.closeAndWait() == 0)

        // Escalate and unblock; each is audited as the operator and told to the thread.
        let escalated = try await cli(database, ["escalate-thread", "--thread-id", thread, "--reason", "needs a human", "--operator", "dana"])
        #expect(escalated.status == 0, "\(escalated.stderr)")
        #expect(escalated.stdout.contains("active → blocked"), "\(escalated.stdout)")
        let status = try await alice.call("v1_thread_get", ["thread_id": thread])
        #expect((status.structured["thread"] as? [String: Any])?["status"] as? String == "blocked", "\(status.text)")
        expectOneLineFailure(try await cli(database, ["escalate-thread", "--thread-id", thread, "--reason", "again"]), mentioning: "cannot escalate")
        let unblocked = try await cli(database, ["unblock-thread", "--thread-id", thread, "--reason", "decided: users first"])
        #expect(unblocked.status == 0, "\(unblocked.stderr)")

        let audit = try json(try await cli(database, ["inspect-thread", "--thread-id", thread, "--json"]))["audit"] as? [[String: Any]] ?? []
        let actions = audit.map { "\($0["actor"] as? String ?? "") \($0["action"] as? String ?? "")" }
        #expect(actions.contains("operator:dana thread.escalate"), "\(actions)")
        #expect(actions.contains("operator:ops-person thread.unblock"), "the default operator is the OS user: \(actions)")
        let read = try await alice.call("v1_message_read", ["thread_id": thread])
        let systemBodies = ((read.structured["messages"] as? [[String: Any]]) ?? []).filter { $0["kind"] as? String == "system" }.compactMap {
            $0["body"] as? String
        }
        #expect(systemBodies.contains { $0.contains("escalated") && $0.contains("operator:dana") && $0.contains("needs a human") }, "\(systemBodies)")

        // Approvals: list, approve once; a second decision is refused.
        let pending = try json(try await cli(database, ["approvals", "list", "--state", "pending", "--json"]))
        #expect(((pending["tickets"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }.map { $0.lowercased() } == [ticket.lowercased()])
        let approved = try await cli(database, ["approvals", "approve", "--ticket-id", ticket, "--note", "ok", "--operator", "dana"])
        #expect(approved.status == 0, "\(approved.stderr)")
        let got = try await alice.call("v1_approval_get", ["ticket_id": ticket])
        let decided = got.structured["ticket"] as? [String: Any]
        #expect(decided?["state"] as? String == "approved", "\(got.text)")
        #expect(decided?["decider"] as? String == "operator:dana", "\(got.text)")
        expectOneLineFailure(try await cli(database, ["approvals", "deny", "--ticket-id", ticket]), mentioning: "already")

        // Override-close needs a human_override: reason; nothing changes when it is refused.
        expectOneLineFailure(
            try await cli(database, ["override-close-thread", "--thread-id", thread, "--reason", "done"]),
            mentioning: "human_override:"
        )
        let still = try await alice.call("v1_thread_get", ["thread_id": thread])
        #expect((still.structured["thread"] as? [String: Any])?["status"] as? String == "active", "\(still.text)")
        let closed = try await cli(
            database,
            ["override-close-thread", "--thread-id", thread, "--reason", "human_override: superseded by PR 42", "--json"]
        )
        #expect(closed.status == 0, "\(closed.stderr)")
        #expect((try json(closed)["thread"] as? [String: Any])?["status"] as? String == "closed", "\(closed.stdout)")

        // Unknown ids and malformed ones: one clear line, non-zero.
        let unknown = UUID().uuidString.lowercased()
        expectOneLineFailure(try await cli(database, ["inspect-thread", "--thread-id", unknown]), mentioning: "no thread")
        expectOneLineFailure(try await cli(database, ["unblock-thread", "--thread-id", unknown, "--reason", "x"]), mentioning: "no thread")
        expectOneLineFailure(try await cli(database, ["approvals", "approve", "--ticket-id", unknown]), mentioning: "no approval ticket")
        let malformed = try await cli(database, ["inspect-thread", "--thread-id", "nope"])
        #expect(malformed.status != 0 && malformed.stderr.contains("not a UUID"), "\(malformed.stderr)")
        #expect(await alice.closeAndWait() == 0)
    }
}
