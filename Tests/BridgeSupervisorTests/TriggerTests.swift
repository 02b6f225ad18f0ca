import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import PostgresNIO
import Testing

/// Trigger first, polling as the fallback (ARCHITECTURE.md, Supervisor), in real time with the system clock.
@Suite struct TriggerTests {
    @Test func aPostWakesTheTargetThroughTheListenerLongBeforeAPollTick() async throws {
        // Polling is an hour apart and the first tick ran at start-up: only the listener can start this wake.
        try await SupervisorHarness.run(listen: true) { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("please review", in: thread, from: "rev", to: ["exec"])
            let wake = try await h.waitForWake(of: "exec", in: .acked)
            #expect(wake.attempts.count == 1)
            #expect(try h.invocations(of: "codex").count == 1)
        }
    }

    @Test func withoutAListenerPollingAloneWakesTheTarget() async throws {
        try await SupervisorHarness.run(timings: { $0.pollInterval = .milliseconds(300) }, listen: false) { h in
            #expect(!h.supervisor.isListening)
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            try await h.post("please review", in: thread, from: "rev", to: ["exec"])
            let wake = try await h.waitForWake(of: "exec", in: .acked)
            #expect(wake.attempts.count == 1)
        }
    }

    @Test func aDroppedListenerReconnectsAndCatchesUp() async throws {
        try await SupervisorHarness.run(listen: true) { h in
            try await h.register("exec", kind: .codexCLI, sessionID: "sess-exec")
            let thread = try await h.thread(by: "rev", members: ["exec"])
            let pid = try #require(h.supervisor.lockBackendPID)
            try await h.execute("SELECT pg_terminate_backend(\(pid))")
            // Posted while the listener may be down: the catch-up tick after reconnecting finds it from state.
            try await h.post("are you there?", in: thread, from: "rev", to: ["exec"])
            try await h.waitUntil("the supervisor leads again on a new connection") {
                h.supervisor.isListening && h.supervisor.lockBackendPID != pid
            }
            let wake = try await h.waitForWake(of: "exec", in: .acked)
            #expect(wake.attempts.count == 1)
        }
    }
}
