import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import PostgresNIO
import Testing

/// What a woken process is given and what is taken from it while it runs (issue 14, part 4).
@Suite struct WakeProcessHygieneTests {
    @Test(arguments: [(RuntimeKind.claudeCode, "claude"), (RuntimeKind.codexCLI, "codex")])
    func aSpawnedSessionIsRecordedFromItsFirstEventWhileItsFirstTurnRuns(kind: RuntimeKind, program: String) async throws {
        try await SupervisorHarness.run(fake: ["FAKE_SPAWN": "hang_after_start", "FAKE_SESSION_ID": "long-first-turn"]) { h in
            // No session recorded yet: the wake spawns one.
            try await h.register("exec", kind: kind)
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("migrate the billing tables", in: thread, from: "rev", to: ["exec"])
            #expect(await h.tick().wakesStarted == 1)

            // The process printed its first event and keeps running; the id is already the participant's session.
            try await h.waitUntil("the spawned session is recorded") {
                try await h.store.participant(handle: "exec", context: h.context("exec")).runtime.sessionID == "long-first-turn"
            }
            let wake = try await h.latestWake(of: "exec")
            #expect(wake.state == .triggered)
            #expect(wake.attempts.map(\.action) == [.spawn])
            #expect(wake.attempts.last?.outcome == .running, "recorded before the process ended")
            #expect(wake.attempts.last?.sessionID == "long-first-turn")
            #expect(h.supervisor.runningWakes == 1)
            #expect(try h.invocations(of: program).count == 1)

            // The turn dies half way: the attempt ends as failed, and the session stays recorded for a resume.
            let pid = try #require(try h.processIDs(of: program).first)
            #expect(kill(pid, SIGTERM) == 0)
            try await h.waitUntil("the killed attempt is recorded") { try await h.latestWake(of: "exec").attempts.last?.outcome == .failed }
            #expect(try await h.store.participant(handle: "exec", context: h.context("exec")).runtime.sessionID == "long-first-turn")
            #expect(try await h.latestWake(of: "exec").attempts.last?.sessionID == "long-first-turn")
        }
    }

    @Test func claudeIsWokenWithStreamJSONAndTheBridgePermissionPromptTool() async throws {
        try await SupervisorHarness.run(fake: ["FAKE_RESUME": "fail", "FAKE_SPAWN": "ok", "FAKE_SESSION_ID": "claude-new"]) { h in
            try await h.register("exec", kind: .claudeCode, sessionID: "claude-gone")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("please rebase", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            try await h.waitUntil("the first resume failed") { try await h.latestWake(of: "exec").resumeFailures == 1 }
            h.advance(.seconds(5))
            await h.tick()
            let wake = try await h.waitForWake(of: "exec", in: .fallbackSpawned)
            #expect(wake.attempts.map(\.action) == [.resume, .resume, .spawn])
            try await h.waitUntil("the spawn's end is recorded") {
                try await h.latestWake(of: "exec").attempts.last?.outcome == .exited
            }

            let calls = try h.invocations(of: "claude")
            let streamFlags = ["--output-format", "stream-json", "--verbose", "--permission-prompt-tool", "mcp__agent-bridge__v1_permission_prompt"]
            let resume = try #require(calls.first)
            #expect(Array(resume.prefix(3)) == ["-p", "--resume", "claude-gone"])
            #expect(Array(resume.dropFirst(3).prefix(5)) == streamFlags)
            let spawn = try #require(calls.last)
            #expect(Array(spawn.prefix(6)) == ["-p"] + streamFlags)
            #expect(spawn.count == 7, "the prompt is one argument: \(spawn)")

            // Taken from the stream's first event; recorded once, whether while running or at the end.
            #expect(try await h.latestWake(of: "exec").attempts.last?.sessionID == "claude-new")
            #expect(try await h.store.participant(handle: "exec", context: h.context("exec")).runtime.sessionID == "claude-new")
            let audits = try await h.store.client.query(
                "SELECT count(*)::int FROM audit_events WHERE action = 'participant.session' AND target = 'participant:exec'",
                logger: h.logger
            )
            var count = 0
            for try await value in audits.decode(Int.self) { count = value }
            #expect(count == 1)
        }
    }

    @Test func theWokenProcessIsToldWhoItIsSoItsServerNeedsNoFlags() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("exec", role: .reviewer, kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("a finding for you", in: thread, from: "rev", to: ["exec"], kind: .finding)
            await h.tick()
            _ = try await h.waitForWake(of: "exec", in: .acked)

            let environment = try #require(try h.environments(of: "codex").first)
            #expect(environment["AGENT_BRIDGE_PARTICIPANT"] == "exec")
            #expect(environment["AGENT_BRIDGE_ROLE"] == "reviewer")
            #expect(environment["AGENT_BRIDGE_WORKSPACE"] == "local")
            #expect(environment["AGENT_BRIDGE_WAKE_THREAD_ID"] == thread.uuidString.lowercased())
            // The fake agent's `agent-bridge serve` got no flags: it read, acked and kept the participant's role
            // (a server that fell back to the default role would have made the reviewer a coordinator).
            let detail = try await h.store.thread(thread, context: h.context("rev"))
            #expect(detail.participants.first { $0.handle == "exec" }?.cursorSeq == 1)
            #expect(try await h.store.participant(handle: "exec", context: h.context("exec")).role == .reviewer)
        }
    }
}
