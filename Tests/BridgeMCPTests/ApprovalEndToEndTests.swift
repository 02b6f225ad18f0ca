import BridgeCore
import BridgeMCP
import BridgeService
import BridgeTestSupport
import Foundation
import MCP
import Testing

/// Approval tickets through the real binary: policy decisions, a human decision waking a long-poll,
/// first-decision-wins under concurrency, cancellation, and TTL expiry that fails closed.
@Suite struct ApprovalEndToEndTests {
    let catalog = try! ToolCatalog.bundled()

    func error(_ result: (isError: Bool, structured: [String: Any], text: String)) -> String? {
        guard result.isError, let error = result.structured["error"] as? [String: Any] else { return nil }
        return "\(error["code"] as? String ?? "")/\(error["reason"] as? String ?? "")"
    }

    func ticket(_ result: (isError: Bool, structured: [String: Any], text: String)) throws -> [String: Any] {
        #expect(!result.isError, "\(result.text)")
        let value = try JSONValue(parsing: JSONSerialization.data(withJSONObject: result.structured))
        return try #require(result.structured["ticket"] as? [String: Any], "\(value)")
    }

    func expectConforms(_ tool: String, _ result: (isError: Bool, structured: [String: Any], text: String)) throws {
        let value = try JSONValue(parsing: JSONSerialization.data(withJSONObject: result.structured))
        let validate = try #require(catalog.outputValidator(for: tool))
        #expect(throws: Never.self, "\(tool) output must match its schema") { try validate(value) }
    }

    @Test func requestDecideAndWait() async throws {
        let database = try await TestDatabase.create()
        let worker = try MCPClient(databaseURL: database.url, participant: "worker", role: "executioner")
        let judge = try MCPClient(databaseURL: database.url, participant: "judge", role: "approver")
        let boss = try MCPClient(databaseURL: database.url, participant: "boss", role: "operator")
        for client in [worker, judge, boss] { _ = try await client.initialize() }
        let created = try await worker.call("v1_thread_create", ["title": "deploy", "participants": [["handle": "judge", "role": "approver"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)

        // Policy decides some classes at once.
        let read = try await worker.call(
            "v1_approval_request",
            ["thread_id": thread, "action_class": "fs_read", "resource": "/etc/hosts", "summary": "look"]
        )
        try expectConforms("v1_approval_request", read)
        #expect(try ticket(read)["state"] as? String == "approved")
        #expect(try ticket(read)["reason_code"] as? String == "AUTO_APPROVED_POLICY")
        let secret = try await worker.call(
            "v1_approval_request",
            ["thread_id": thread, "action_class": "secret_access", "resource": "vault", "summary": "peek"]
        )
        #expect(try ticket(secret)["state"] as? String == "denied")
        #expect(try ticket(secret)["reason_code"] as? String == "DENIED_BY_POLICY")
        #expect(
            error(try await worker.call("v1_approval_request", ["thread_id": thread, "action_class": "teleport", "resource": "x", "summary": "y"]))
                == "INVALID_ARGUMENT/UNKNOWN_ACTION_CLASS"
        )

        // A human decision wakes the requester's long-poll.
        let requestArguments: [String: Any] = [
            "thread_id": thread, "action_class": "fs_write", "resource": "src/main.swift", "summary": "apply fix", "idempotency_key": "write-1",
        ]
        let pending = try ticket(try await worker.call("v1_approval_request", requestArguments))
        #expect(pending["state"] as? String == "pending")
        let replay = try await worker.call("v1_approval_request", requestArguments)
        #expect(replay.structured["deduplicated"] as? Bool == true)
        #expect(try ticket(replay)["id"] as? String == pending["id"] as? String)
        let ticketID = try #require(pending["id"] as? String)
        let waited = Task.detached { () async throws -> String? in
            let result = try await worker.call("v1_approval_get", ["ticket_id": ticketID, "wait_seconds": 30])
            return (result.structured["ticket"] as? [String: Any])?["state"] as? String
        }
        try await Task.sleep(for: .milliseconds(300))
        let decided = try await judge.call("v1_approval_decide", ["ticket_id": ticketID, "decision": "approve", "note": "looks right"])
        try expectConforms("v1_approval_decide", decided)
        #expect(try ticket(decided)["decider"] as? String == "judge")
        #expect(try await waited.value == "approved")
        #expect(
            error(try await judge.call("v1_approval_decide", ["ticket_id": ticketID, "decision": "deny"]))
                == "FAILED_PRECONDITION/TICKET_ALREADY_DECIDED"
        )

        // Nobody decides their own ticket; only approver roles decide; only the requester cancels.
        let own = try ticket(
            try await boss.call("v1_approval_request", ["thread_id": thread, "action_class": "db_write", "resource": "users", "summary": "fix row"])
        )
        #expect(
            error(try await boss.call("v1_approval_decide", ["ticket_id": own["id"]!, "decision": "approve"]))
                == "PERMISSION_DENIED/SELF_APPROVAL_FORBIDDEN"
        )
        #expect(error(try await judge.call("v1_approval_cancel", ["ticket_id": own["id"]!])) == "PERMISSION_DENIED/ROLE_NOT_PERMITTED")
        let cancelled = try await boss.call("v1_approval_cancel", ["ticket_id": own["id"]!, "reason": "not needed"])
        try expectConforms("v1_approval_cancel", cancelled)
        #expect(try ticket(cancelled)["state"] as? String == "cancelled")

        let listed = try await judge.call("v1_approval_list", ["thread_id": thread, "state": "approved"])
        try expectConforms("v1_approval_list", listed)
        #expect((listed.structured["tickets"] as? [Any])?.count == 2)
        let messages = try await worker.call("v1_message_read", ["thread_id": thread, "limit": 100])
        let systemMessages = ((messages.structured["messages"] as? [[String: Any]]) ?? []).filter { $0["kind"] as? String == "system" }
        #expect(systemMessages.count == 6, "one system message per request and per decision or cancellation")
        for client in [worker, judge, boss] { #expect(await client.closeAndWait() == 0) }
    }

    @Test func concurrentDecisionsHaveExactlyOneWinner() async throws {
        let database = try await TestDatabase.create()
        let worker = try MCPClient(databaseURL: database.url, participant: "worker", role: "executioner")
        _ = try await worker.initialize()
        let created = try await worker.call("v1_thread_create", ["title": "race"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)
        let ticketID = try #require(
            try ticket(
                try await worker.call(
                    "v1_approval_request",
                    [
                        "thread_id": thread, "action_class": "process_run", "resource": "make deploy", "summary": "ship",
                    ]
                )
            )["id"] as? String
        )
        var approvers: [MCPClient] = []
        for index in 0..<8 {
            let client = try MCPClient(databaseURL: database.url, participant: "judge\(index)", role: "approver")
            _ = try await client.initialize()
            approvers.append(client)
        }
        let outcomes = try await withThrowingTaskGroup(of: String?.self) { group in
            for (index, approver) in approvers.enumerated() {
                group.addTask {
                    let result = try await approver.call(
                        "v1_approval_decide",
                        ["ticket_id": ticketID, "decision": index % 2 == 0 ? "approve" : "deny"]
                    )
                    guard result.isError else { return nil }
                    return (result.structured["error"] as? [String: Any])?["reason"] as? String
                }
            }
            var outcomes: [String?] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.filter { $0 == nil }.count == 1, "exactly one decision wins: \(outcomes)")
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0 == "TICKET_ALREADY_DECIDED" }, "\(outcomes)")
        for client in approvers + [worker] { #expect(await client.closeAndWait() == 0) }
    }

    @Test func aTicketPastItsTTLReadsExpiredAndCannotBeDecided() async throws {
        let database = try await TestDatabase.create()
        // A catalog whose `instant` class expires the moment it is opened: no clock to wait for.
        let folder = try CatalogFolder.make(
            approvals: "action_classes:\n  instant:\n    decision: require_approval\n    approver_roles: [approver]\n    ttl: 0s\n"
        )
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = ["AGENT_BRIDGE_CATALOG": folder.path]
        let worker = try MCPClient(databaseURL: database.url, participant: "worker", role: "executioner", extraEnvironment: environment)
        let judge = try MCPClient(databaseURL: database.url, participant: "judge", role: "approver", extraEnvironment: environment)
        _ = try await worker.initialize()
        _ = try await judge.initialize()
        let created = try await worker.call("v1_thread_create", ["title": "ttl"])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String)
        let opened = try ticket(
            try await worker.call("v1_approval_request", ["thread_id": thread, "action_class": "instant", "resource": "r", "summary": "s"])
        )
        let ticketID = try #require(opened["id"] as? String)
        let read = try ticket(try await judge.call("v1_approval_get", ["ticket_id": ticketID]))
        #expect(read["state"] as? String == "expired")
        #expect(read["reason_code"] as? String == "TICKET_EXPIRED")
        #expect(
            error(try await judge.call("v1_approval_decide", ["ticket_id": ticketID, "decision": "approve"])) == "FAILED_PRECONDITION/TICKET_EXPIRED"
        )
        for client in [worker, judge] { #expect(await client.closeAndWait() == 0) }
    }
}
