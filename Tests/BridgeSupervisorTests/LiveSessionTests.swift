import BridgeCore
import BridgeStore
import BridgeSupervisor
import BridgeTestSupport
import Foundation
import Testing

/// A session that is open is never forked: a real `agent-bridge serve` holds the participant's session lease, and
/// the supervisor defers its wakes (`SESSION_LIVE`) until the lease ends.
@Suite struct LiveSessionTests {
    /// A real `serve` for `handle`, initialized as Codex's MCP client would, kept open until stopped.
    final class OpenSession: @unchecked Sendable {
        let process = Process()
        private let input = Pipe()

        init(handle: String, databaseURL: String) throws {
            process.executableURL = TestDatabase.executableURL
            process.arguments = ["serve"]
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = databaseURL
            environment["AGENT_BRIDGE_PARTICIPANT"] = handle
            environment["AGENT_BRIDGE_ROLE"] = "executioner"
            environment["AGENT_BRIDGE_LOG_LEVEL"] = "error"
            environment["AGENT_BRIDGE_SESSION_ID"] = "sess-\(handle)"
            process.environment = environment
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let initialize =
                #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"codex-mcp-client","version":"0.9"}}}"#
            try input.fileHandleForWriting.write(contentsOf: Data((initialize + "\n").utf8))
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func close() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test func aLiveIdleSessionIsNeverResumedAndAKilledOnesLeaseLapsesSoTheNextWakeResumes() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            let session = try OpenSession(handle: "exec", databaseURL: h.database.url)
            defer { if session.process.isRunning { session.kill() } }
            try await h.waitUntil("exec's serve holds a live lease") {
                try await h.store.sessionLeases(workspace: "local", handle: "exec").first?.live == true
            }
            let lease = try #require(try await h.store.sessionLeases(workspace: "local", handle: "exec").first)
            #expect(lease.clientName == "codex-mcp-client" && lease.runtime == RuntimeKind.codexCLI.rawValue && lease.sessionID == "sess-exec")
            #expect(lease.pid == Int(session.process.processIdentifier) && !lease.channel)

            // Directed work for an agent whose session is open but idle (no call for far longer than the fresh window).
            try await h.post("please fix the flaky test", in: thread, from: "rev", to: ["exec"], kind: .request)
            var started = 0
            for _ in 0..<20 {
                h.advance(.seconds(45))
                started += await h.tick().wakesStarted
            }
            #expect(started == 0, "an open session was resumed \(started) of 20 times")
            #expect(try h.invocations(of: "codex").isEmpty)
            let deferred = try await h.latestWake(of: "exec")
            #expect(deferred.state == .deferred && deferred.reason == Reason.sessionLive.rawValue, "\(deferred.state) \(deferred.reason ?? "-")")

            // The session dies without releasing its lease: it lapses within 15 s, and the wake resumes the session.
            session.kill()
            let killed = ContinuousClock.now
            try await h.waitUntil("the killed serve's lease lapses", timeout: .seconds(20)) {
                try await h.store.sessionLeases(workspace: "local", handle: "exec").isEmpty
            }
            let lapsed = killed.duration(to: .now)
            print("A killed serve's lease lapsed after \(lapsed).")
            #expect(lapsed <= .seconds(15))
            h.advance(.seconds(10))
            #expect(await h.tick().wakesStarted == 1)
            let acked = try await h.waitForWake(of: "exec", in: .acked)
            #expect(acked.attempts.map(\.action) == [.resume])
            #expect(try h.invocations(of: "codex").first?.contains("sess-exec") == true)
        }
    }

    @Test func aClosedSessionReleasesItsLeaseAtOnce() async throws {
        try await SupervisorHarness.run { h in
            let session = try OpenSession(handle: "exec", databaseURL: h.database.url)
            try await h.waitUntil("the lease is taken") { try await !h.store.sessionLeases(workspace: "local", handle: "exec").isEmpty }
            session.close()
            #expect(session.process.terminationStatus == 0)
            #expect(try await h.store.sessionLeases(workspace: "local", includeEnded: true).isEmpty, "a graceful exit deletes the lease")
        }
    }
}
