import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import PostgresNIO
import Testing

/// Every wake outcome, with the fake runtimes and a manual clock (no multi-second sleeps).
@Suite struct WakeLifecycleTests {
    @Test func aBurstToADormantCodexSessionResumesItOnceAndTheAgentAcks() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            for index in 1...3 {
                try await h.post("finding \(index): the login test races the cache", in: thread, from: "rev", to: ["exec"], kind: .finding)
            }
            let report = await h.tick()
            #expect(report.wakesCreated == 1)
            #expect(report.wakesStarted == 1)

            let wake = try await h.waitForWake(of: "exec", in: .acked)
            #expect(wake.triggerSeq == 3)
            #expect(wake.reason == "WAKE_ACKNOWLEDGED")
            #expect(wake.requestedBy == "supervisor")
            #expect(wake.attempts.map(\.action) == [.resume])
            #expect(wake.attempts.first?.outcome == .exited)
            #expect(wake.attempts.first?.supervisor == "test-sup")

            // One process for the whole burst, with exec flags before `resume`, and the prompt as one argument.
            let calls = try h.invocations(of: "codex")
            #expect(calls.count == 1)
            let argv = try #require(calls.first)
            #expect(Array(argv.prefix(5)) == ["exec", "--json", "--skip-git-repo-check", "resume", "sess-exec"])
            #expect(argv.count == 6)
            let prompt = argv.last ?? ""
            #expect(prompt.contains(thread.uuidString.lowercased()))
            #expect(prompt.contains("seq 3"))
            #expect(prompt.contains("v1_message_read") && prompt.contains("v1_message_ack"))

            // The woken agent really read and acknowledged through agent-bridge.
            let detail = try await h.store.thread(thread, context: h.context("rev"))
            #expect(detail.participants.first { $0.handle == "exec" }?.cursorSeq == 3)

            // Nothing left to do: no second wake for messages already covered.
            let again = await h.tick()
            #expect(again.wakesCreated == 0 && again.wakesStarted == 0)
            #expect(try h.invocations(of: "codex").count == 1)
        }
    }

    @Test func anActiveTargetIsLeftAloneAsAlreadyActive() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.heartbeat("exec")
            try await h.post("please look", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            let wake = try await h.latestWake(of: "exec")
            #expect(wake.state == .alreadyActive)
            #expect(wake.reason == "PARTICIPANT_ACTIVE")
            #expect(wake.attempts.isEmpty)
            #expect(try h.invocations(of: "codex").isEmpty)
        }
    }

    @Test func failedResumesFallBackToAFreshSessionWhoseIDIsRecorded() async throws {
        try await SupervisorHarness.run(fake: ["FAKE_RESUME": "fail", "FAKE_SPAWN": "ok", "FAKE_SESSION_ID": "sess-new"]) { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-gone")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("over to you", in: thread, from: "rev", to: ["exec"], kind: .handoff)
            await h.tick()
            // The first resume fails at once; the retry waits for its backoff on the virtual clock.
            try await h.waitUntil("the first resume failed") { try await h.latestWake(of: "exec").resumeFailures == 1 }
            #expect(try await h.latestWake(of: "exec").state == .pending)
            h.advance(.seconds(5))
            await h.tick()
            let wake = try await h.waitForWake(of: "exec", in: .fallbackSpawned)
            #expect(wake.attempts.map(\.action) == [.resume, .resume, .spawn])
            #expect(wake.attempts.map(\.outcome) == [.failed, .failed, .exited])
            #expect(wake.attempts.last?.sessionID == "sess-new")
            #expect(wake.resumeFailures == 2)

            let calls = try h.invocations(of: "codex")
            #expect(calls.count == 3)
            #expect(calls.last.map { Array($0.prefix(3)) } == ["exec", "--json", "--skip-git-repo-check"])
            #expect(calls.last?.contains("resume") == false)
            // The next wake resumes the new session.
            let participant = try await h.store.participant(handle: "exec", context: h.context("exec"))
            #expect(participant.runtime.sessionID == "sess-new")
        }
    }

    @Test func unacknowledgedWakesRetryOnTheClockThenSpawnThenGoDead() async throws {
        try await SupervisorHarness.run(timings: { $0.triggerRetriesBeforeFallback = 1 }, fake: ["FAKE_RESUME": "hang", "FAKE_SPAWN": "hang"]) { h in
            try await h.register("exec", role: .executioner, kind: .claudeCode, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("anyone there?", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            // Each step: 10 virtual seconds pass (past the 8 s ack timeout and any backoff), then a tick.
            for _ in 0..<40 {
                let wake = try await h.latestWake(of: "exec")
                if wake.state == .dead { break }
                if wake.state == .pending && wake.nextAttemptAt <= h.clock.now() {
                    // Due now (a failed resume hands over to a spawn at once): a tick starts it, no time passes.
                    await h.tick()
                    continue
                }
                if wake.state == .triggered {
                    // Let the process start (and record itself) before its ack window runs out.
                    try await h.waitUntil("the attempt's process runs") { try h.invocations(of: "claude").count == wake.attempts.count }
                }
                h.advance(.seconds(10))
                await h.tick()
            }
            let wake = try await h.latestWake(of: "exec")
            #expect(wake.state == .dead)
            #expect(wake.reason == "WAKE_RETRIES_EXHAUSTED")
            #expect(wake.attempts.map(\.action) == [.resume, .resume, .spawn, .spawn])
            #expect(wake.attempts.allSatisfy { $0.outcome == .stopped })
            // Every hung process was stopped, none left behind.
            try await h.waitUntil("no wake process runs") { h.supervisor.runningWakes == 0 }
            #expect(try h.invocations(of: "claude").count == 4)
        }
    }

    @Test func aSessionSilentPastTheStaleCutoffIsReplacedNotResumed() async throws {
        try await SupervisorHarness.run(fake: ["FAKE_SESSION_ID": "claude-fresh"]) { h in
            try await h.register("exec", kind: .claudeCode, sessionID: "sess-old")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.heartbeat("exec")
            h.advance(.seconds(13 * 3600))
            try await h.post("morning: please rebase", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            let wake = try await h.waitForWake(of: "exec", in: .fallbackSpawned)
            #expect(wake.attempts.map(\.action) == [.spawn])
            let argv = try #require(try h.invocations(of: "claude").first)
            #expect(Array(argv.prefix(4)) == ["-p", "--output-format", "stream-json", "--verbose"])
            #expect(!argv.contains("--resume"))
            #expect(try await h.store.participant(handle: "exec", context: h.context("exec")).runtime.sessionID == "claude-fresh")
        }
    }

    @Test func anUnmanagedTargetInAnAutonomousLaneFailsAndIsNeverStarted() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("manual", kind: .codexCLI, managed: false, sessionID: "sess-manual")
            let lane = try await h.thread(by: "rev", members: ["manual"], autonomous: true)
            let ordinary = try await h.thread(by: "rev", members: ["manual"], autonomous: false)
            try await h.post("in the ordinary thread", in: ordinary, from: "rev", to: ["manual"])
            await h.tick()
            // Outside an autonomous lane an unmanaged agent is simply not the supervisor's business.
            #expect(try await h.wakes(of: "manual").isEmpty)

            try await h.post("in the lane", in: lane, from: "rev", to: ["manual"])
            await h.tick()
            let wake = try await h.latestWake(of: "manual")
            #expect(wake.state == .failed)
            #expect(wake.reason == "UNMANAGED_RUNTIME_TARGET")
            #expect(wake.threadID == lane)
            #expect(wake.attempts.isEmpty)
            #expect(try h.invocations(of: "codex").isEmpty)
            // Left to polling: the same message does not produce another request.
            await h.tick()
            #expect(try await h.wakes(of: "manual").count == 1)
        }
    }

    @Test func humanInputDefersTheWakeUntilTheDeferWindowRunsOut() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.heartbeat("exec", presence: .idle, humanInput: true)
            try await h.post("when you have a moment", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            var wake = try await h.latestWake(of: "exec")
            #expect(wake.state == .deferred)
            #expect(wake.reason == "HUMAN_INPUT_COLLISION")
            // The human keeps typing: re-checked every 5 s, still deferred, until 60 s have passed.
            for _ in 0..<11 {
                h.advance(.seconds(5))
                try await h.execute("UPDATE participants SET last_human_input_at = \(h.clock.now()) WHERE handle = 'exec'")
                await h.tick()
                #expect(try await h.latestWake(of: "exec").state == .deferred)
            }
            h.advance(.seconds(5))
            try await h.execute("UPDATE participants SET last_human_input_at = \(h.clock.now()) WHERE handle = 'exec'")
            await h.tick()
            wake = try await h.latestWake(of: "exec")
            #expect(wake.state == .deferredTimeout)
            #expect(wake.reason == "DEFER_WINDOW_EXCEEDED")
            #expect(try h.invocations(of: "codex").isEmpty)
        }
    }

    @Test func aDeferredWakeGoesAheadOnceTheHumanStopsTyping() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.heartbeat("exec", presence: .idle, humanInput: true)
            try await h.post("when you have a moment", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            #expect(try await h.latestWake(of: "exec").state == .deferred)
            h.advance(.seconds(25))
            await h.tick()
            let wake = try await h.waitForWake(of: "exec", in: .acked)
            #expect(wake.attempts.map(\.action) == [.resume])
        }
    }

    @Test func aCommandRuntimeGetsItsTemplateArgumentsVerbatim() async throws {
        try await SupervisorHarness.run { h in
            try await h.register("build.bot-1", kind: .command)
            let thread = try await h.thread(by: "rev", members: ["build.bot-1"], title: "$(touch /tmp/pwned); rm -rf ~ `id`")
            try await h.post("run the suite", in: thread, from: "rev", to: ["build.bot-1"], kind: .request)
            await h.tick()
            let wake = try await h.waitForWake(of: "build.bot-1", in: .fallbackSpawned)
            #expect(wake.attempts.map(\.action) == [.spawn])
            #expect(try h.invocations(of: "agent-bridge-wake") == [["build.bot-1", thread.uuidString.lowercased(), "1"]])
            #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
        }
    }

    @Test func aMissingRuntimeProgramFailsTheAttemptAndTheWakeEndsDead() async throws {
        try await SupervisorHarness.run(timings: {
            $0.resumeAttemptsBeforeSpawn = 1
            $0.triggerRetriesBeforeFallback = 0
        }) { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            try await h.execute("UPDATE participants SET workdir = '/nonexistent/agent-bridge-workdir' WHERE handle = 'exec'")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("hello", in: thread, from: "rev", to: ["exec"])
            await h.tick()
            let wake = try await h.waitForWake(of: "exec", in: .dead)
            #expect(wake.attempts.map(\.outcome) == [.notStarted, .notStarted])
            #expect(wake.attempts.first?.outputTail?.contains("does not exist") == true)
            #expect(try h.invocations(of: "codex").isEmpty)
        }
    }
}
