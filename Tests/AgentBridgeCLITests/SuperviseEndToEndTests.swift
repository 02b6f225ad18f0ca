import BridgeCore
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import Testing

/// `agent-bridge supervise` as real processes: two against one database, one leads, the leader is killed,
/// the other takes over, and no wake is performed twice. Agents speak MCP to `serve`; the woken ones are the
/// fake Codex of the supervisor tests.
@Suite struct SuperviseEndToEndTests {
    /// A copy of the bundled catalog polling every 500 ms (so a standby takes over within a second).
    static func fastCatalog() throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/BridgeService/catalog")
        let copy = "\(NSTemporaryDirectory())agent-bridge-catalog-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.copyItem(at: source, to: URL(fileURLWithPath: copy))
        let policy = "\(copy)/policy.yaml"
        let text = try String(contentsOfFile: policy, encoding: .utf8)
            .replacingOccurrences(of: "poll_interval: 5s", with: "poll_interval: 500ms")
        try text.write(toFile: policy, atomically: true, encoding: .utf8)
        return copy
    }

    /// One `agent-bridge supervise` process with its stderr in a file.
    final class SupervisorProcess: @unchecked Sendable {
        let id: String
        let process = Process()
        let logPath: String

        /// - Parameter arguments: added after `supervise --id ID`; by default a free HTTP port, so that parallel
        ///   supervisors never contend for the default one.
        init(id: String, environment: [String: String], directory: String, arguments: [String] = ["--http-port", "0"]) throws {
            self.id = id
            logPath = "\(directory)/\(id).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = TestDatabase.executableURL
            process.arguments = ["supervise", "--id", id] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        /// The log events this process wrote, as JSON objects.
        func events() -> [[String: Any]] {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }

        var leads: Bool { events().contains { $0["event"] as? String == "supervisor.leader" } }

        /// The port of /health, /ready and /metrics, once the process logged it.
        var httpPort: Int? {
            events().first { $0["event"] as? String == "http.listening" }.flatMap { ($0["port"] as? String).flatMap(Int.init) }
        }
    }

    @Test func twoSupervisorsOneLeadsTheOtherTakesOverAndNoWakeRunsTwice() async throws {
        let logger = Logger(label: "supervise-e2e")
        let database = try await TestDatabase.create(logger: logger)
        let catalog = try Self.fastCatalog()
        let directory = "\(NSTemporaryDirectory())agent-bridge-supervise-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: catalog)
            try? FileManager.default.removeItem(atPath: directory)
        }
        let environment = [
            "DATABASE_URL": database.url, "AGENT_BRIDGE_CATALOG": catalog, "AGENT_BRIDGE_LOG_LEVEL": "info",
            "PATH": "\(TestDatabase.fakeRuntimesDirectory):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
            "FAKE_RUNTIME_DIR": directory, "AGENT_BRIDGE_BIN": TestDatabase.executableURL.path, "AGENT_BRIDGE_DB_TIMEOUT_MS": "30000",
        ]

        // The agents: a coordinator in an MCP session, two dormant executioners registered for waking.
        let store = database.store(logger: logger)
        try await TestDatabase.run(store) { _ in
            for (handle, session) in [("exec-a", "sess-a"), ("exec-b", "sess-b")] {
                _ = try await store.registerParticipant(
                    ParticipantRegistration(
                        displayName: nil,
                        runtime: RuntimeDescriptor(kind: .codexCLI, managed: true, sessionID: session, workdir: directory)
                    ),
                    context: CallContext(identity: Identity(workspace: "local", handle: handle, role: .executioner), requestID: "req_setup"),
                    idempotency: nil
                )
            }
        }
        let lead = try MCPClient(databaseURL: database.url, participant: "lead", role: "coordinator")
        _ = try await lead.initialize()
        let created = try await lead.call(
            "v1_thread_create",
            [
                "title": "flaky login test",
                "participants": [["handle": "exec-a", "role": "executioner"], ["handle": "exec-b", "role": "executioner"]],
            ]
        )
        let threadID = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")

        let first = try SupervisorProcess(id: "sup-1", environment: environment, directory: directory)
        let second = try SupervisorProcess(id: "sup-2", environment: environment, directory: directory)
        defer {
            for supervisor in [first, second] where supervisor.process.isRunning { kill(supervisor.process.processIdentifier, SIGKILL) }
        }
        try await waitUntil("one supervisor leads") { first.leads || second.leads }
        // Give the standby a few of its lock retries: it must stay a standby.
        try await Task.sleep(for: .seconds(1))
        #expect(first.leads != second.leads)
        let (leader, standby) = first.leads ? (first, second) : (second, first)

        // A finding for the dormant exec-a: the leader resumes its session.
        _ = try await lead.call(
            "v1_message_post",
            ["thread_id": threadID, "kind": "finding", "body": "login_test races the session cache", "to": ["exec-a"]]
        )
        let statusA = try await waitForWake(lead, participant: "exec-a", state: "acked")
        let attemptsA = try #require(statusA["attempts"] as? [[String: Any]])
        #expect(attemptsA.count == 1)
        #expect(attemptsA.first?["supervisor"] as? String == leader.id)
        #expect(attemptsA.first?["output_tail"] == nil)

        // The leader dies without a word; the standby takes the lock.
        kill(leader.process.processIdentifier, SIGKILL)
        try await waitUntil("the standby leads") { standby.leads }

        // v1_wake_trigger: the coordinator asks for exec-b now; the new leader performs it.
        let triggered = try await lead.call("v1_wake_trigger", ["thread_id": threadID, "participant": "exec-b"])
        #expect(triggered.isError == false)
        let wake = try #require(triggered.structured["wake"] as? [String: Any])
        #expect(wake["requested_by"] as? String == "participant:lead")
        #expect(triggered.structured["created"] as? Bool == true)
        let statusB = try await waitForWake(lead, participant: "exec-b", state: "acked")
        #expect((statusB["attempts"] as? [[String: Any]])?.first?["supervisor"] as? String == standby.id)

        // Exactly one process per wake, across both supervisors.
        let invocations = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("codex-") && $0.hasSuffix(".args") }
        #expect(invocations.count == 2)

        // A wake for someone outside the thread is refused with a stable reason.
        let refused = try await lead.call("v1_wake_trigger", ["thread_id": threadID, "participant": "stranger"])
        #expect(refused.isError)
        #expect((refused.structured["error"] as? [String: Any])?["reason"] as? String == "UNKNOWN_RECIPIENT")

        // The operator sees both wakes, with their attempts, in inspect-thread.
        let inspected = try await CommandRun.agentBridge(["inspect-thread", "--thread-id", threadID], environment: ["DATABASE_URL": database.url])
        #expect(inspected.status == 0)
        #expect(inspected.stdout.contains("Wake requests (newest 2)"))
        #expect(inspected.stdout.contains("resume:exited(0)"))
        #expect(inspected.stdout.contains("participant:lead"))

        // SIGTERM stops the remaining supervisor gracefully.
        kill(standby.process.processIdentifier, SIGTERM)
        try await waitUntil("the supervisor exits") { !standby.process.isRunning }
        #expect(standby.process.terminationStatus == 0)
        #expect(standby.events().contains { $0["event"] as? String == "tick.completed" })
        _ = await lead.closeAndWait()
    }

    /// Polls `v1_wake_status` until the participant's latest wake is in `state`; returns that wake.
    func waitForWake(_ client: MCPClient, participant: String, state: String) async throws -> [String: Any] {
        var latest: [String: Any] = [:]
        try await waitUntil("\(participant)'s wake is \(state)") {
            let status = try await client.call("v1_wake_status", ["participant": participant])
            latest = (status.structured["wakes"] as? [[String: Any]])?.first ?? [:]
            return latest["state"] as? String == state
        }
        return latest
    }
}
