import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import Testing

/// The database going away under a running `serve`: calls fail as `UNAVAILABLE` (retryable), nothing is
/// half-written, and the same process serves again — long-polls included — once the database is back.
@Suite struct DatabaseOutageTests {
    @Test func callsReportUnavailableWhileTheDatabaseIsDownAndTheServerRecoversWithoutRestart() async throws {
        // A private embedded cluster: stopping the shared test server would break the suites running beside this one.
        let stateDirectory = "\(NSTemporaryDirectory())agent-bridge-outage-\(UUID().uuidString.prefix(8).lowercased())"
        let cluster = EmbeddedCluster(configuration: .init(stateDirectory: stateDirectory), logger: Logger(label: "outage"))
        try await cluster.ensureRunning()
        do {
            try await exerciseOutage(cluster: cluster, stateDirectory: stateDirectory)
        } catch {
            try? await cluster.stop()
            try? FileManager.default.removeItem(atPath: stateDirectory)
            throw error
        }
        try await cluster.stop()
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }

    private func exerciseOutage(cluster: EmbeddedCluster, stateDirectory: String) async throws {
        // The embedded default: no DATABASE_URL, so serve finds the cluster under the state folder and migrates it.
        let environment = ["AGENT_BRIDGE_STATE_DIR": stateDirectory, "AGENT_BRIDGE_DB_TIMEOUT_MS": "4000"]
        let alice = try MCPClient(databaseURL: nil, participant: "alice", extraEnvironment: environment)
        _ = try await alice.initialize()
        let created = try await alice.call("v1_thread_create", ["title": "outage", "participants": [["handle": "bob"]]])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        #expect(try await alice.call("v1_message_post", ["thread_id": thread, "body": "before"]).isError == false)

        try await cluster.stop()
        for (tool, arguments) in [("v1_message_post", ["thread_id": thread, "body": "during"]), ("v1_thread_get", ["thread_id": thread])] {
            let result = try await alice.call(tool, arguments)
            let error = try #require(result.structured["error"] as? [String: Any], "\(tool) must fail while the database is down")
            #expect(result.isError)
            #expect(error["code"] as? String == "UNAVAILABLE")
            #expect(error["reason"] as? String == "DATABASE_UNAVAILABLE")
            #expect(error["retryable"] as? Bool == true)
            #expect(!(error["message"] as? String ?? "").contains("PSQL"), "no driver internals reach the client")
        }

        try await cluster.ensureRunning()
        // The pool reconnects on its own; a client retries a retryable error, as this loop does (bounded).
        var recovered: [String: Any]?
        for _ in 0..<60 where recovered == nil {
            let result = try await alice.call("v1_message_post", ["thread_id": thread, "body": "after"])
            if !result.isError { recovered = result.structured } else { try await Task.sleep(for: .milliseconds(500)) }
        }
        let message = try #require(recovered?["message"] as? [String: Any], "serve did not recover after the database returned")
        #expect(message["seq"] as? Int == 2, "the post refused during the outage left no trace")

        // The listener connection came back too: a long-poll in the same process wakes on another process's post.
        let bob = try MCPClient(databaseURL: nil, participant: "bob", extraEnvironment: environment)
        _ = try await bob.initialize()
        let waited = Task.detached { () async throws -> [Int] in
            let result = try await alice.call("v1_message_read", ["thread_id": thread, "after_seq": 2, "wait_seconds": 30])
            #expect(!result.isError, "\(result.text)")
            return ((result.structured["messages"] as? [[String: Any]]) ?? []).compactMap { $0["seq"] as? Int }
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await bob.call("v1_message_post", ["thread_id": thread, "body": "wake"]).isError == false)
        #expect(try await waited.value == [3])
        #expect(await alice.closeAndWait() == 0)
        #expect(await bob.closeAndWait() == 0)
    }
}
