import BridgeCore
import BridgeStore
import BridgeSupervisor
import Foundation
import Testing

/// The observability figures, read in process the way drills read them: from a running supervisor's exporter.
@Suite struct MetricsTests {
    @Test func apiRequestTalliesDrainOnceAndAFailedFlushPutsThemBack() {
        let stats = APIRequestStats(workspace: "local")
        stats.record(tool: "v1_inbox", code: "OK", duration: .milliseconds(3))
        stats.record(tool: "v1_inbox", code: "OK", duration: .milliseconds(300))
        stats.record(tool: "v1_message_post", code: "NOT_FOUND", duration: .milliseconds(1))
        let drained = stats.drain()
        #expect(drained[.init(tool: "v1_inbox", code: "OK")]?.count == 2)
        #expect(drained[.init(tool: "v1_inbox", code: "OK")]?.buckets[APIRequestStats.bucketIndex(for: 0.3)] == 1)
        #expect(stats.drain().isEmpty)
        stats.restore(drained)
        stats.record(tool: "v1_inbox", code: "OK", duration: .seconds(100))
        let again = stats.drain()
        #expect(again[.init(tool: "v1_inbox", code: "OK")]?.count == 3)
        #expect(again[.init(tool: "v1_inbox", code: "OK")]?.buckets.last == 1)
        #expect(again[.init(tool: "v1_message_post", code: "NOT_FOUND")]?.count == 1)
    }

    @Test func quantilesAreTheUpperBoundOfTheBucketHoldingThem() {
        var buckets = [Int64](repeating: 0, count: APIRequestStats.bucketCount)
        #expect(APIRequestStats.quantileUpperBound(0.95, buckets: buckets) == nil)
        buckets[APIRequestStats.bucketIndex(for: 0.004)] = 18
        buckets[APIRequestStats.bucketIndex(for: 0.2)] = 2
        #expect(APIRequestStats.quantileUpperBound(0.5, buckets: buckets) == 0.005)
        #expect(APIRequestStats.quantileUpperBound(0.95, buckets: buckets) == 0.25)
    }

    @Test func theExporterReportsWhatTheWorkspaceDidAndCountsEachTotalOnce() async throws {
        try await SupervisorHarness.run(timings: { $0.noProgressAutoBlockTurns = 4 }) { h in
            // Unread: two messages for bob (one directed, one broadcast) and alice's own, which is not unread for her.
            let talk = try await h.thread(by: "alice", members: ["bob"])
            try await h.post("please review", in: talk, from: "alice", to: ["bob"], kind: .request)
            try await h.post("fyi", in: talk, from: "alice")
            var figures = try await h.store.workspaceMetrics(workspace: "local", attemptsSince: .distantPast)
            #expect(figures.unreadMessages == 2)
            #expect(figures.oldestUnreadSeconds >= 0)
            #expect(figures.messagesByKind["request"] == 1)
            #expect(figures.messagesByKind["note"] == 1)
            #expect(figures.supervisorLeading)

            // A loop-guard block: four turns without progress.
            let loop = try await h.thread(by: "rev", members: ["exec"])
            for index in 0..<4 { try await h.post("thinking \(index)", in: loop, from: index % 2 == 0 ? "rev" : "exec") }
            #expect(await h.tick().threadsBlocked == 1)

            // Reads persisted by a serve process: 18 fast and 2 slow.
            var fast = APIRequestStats.Tally()
            var slow = APIRequestStats.Tally()
            for _ in 0..<18 { fast.add(seconds: 0.004) }
            for _ in 0..<2 { slow.add(seconds: 0.2) }
            try await h.store.recordAPIRequests([.init(tool: "v1_inbox", code: "OK"): fast], workspace: "local")
            try await h.store.recordAPIRequests(
                [.init(tool: "v1_inbox", code: "OK"): slow, .init(tool: "v1_thread_get", code: "NOT_FOUND"): slow],
                workspace: "local"
            )
            figures = try await h.store.workspaceMetrics(workspace: "local", attemptsSince: .distantPast)
            #expect(figures.apiRequests.first { $0.tool == "v1_inbox" }?.count == 20)
            #expect(figures.readLatencyP50 == 0.005)
            #expect(figures.readLatencyP95 == 0.25)

            let exporter = MetricsExporter(supervisor: h.supervisor)
            let health = await exporter.health()
            #expect(health.isReady)
            #expect(health.leader == true)
            #expect(health.listener == .off)

            let text = await exporter.prometheusText()
            for line in [
                #"agent_bridge_messages_posted_total{kind="request"} 1"#,
                #"agent_bridge_threads{status="blocked"} 1.0"#,
                #"agent_bridge_threads{status="closed"} 0.0"#,
                #"agent_bridge_loop_guard_trips_total{reason="NO_PROGRESS_LIMIT"} 1"#,
                #"agent_bridge_loop_guard_trips_total{reason="REPEATED_FINDING"} 0"#,
                "agent_bridge_escalations_total 1",
                #"agent_bridge_api_requests_total{tool="v1_inbox",code="OK"} 20"#,
                #"agent_bridge_api_requests_total{tool="v1_thread_get",code="NOT_FOUND"} 2"#,
                #"agent_bridge_read_latency_seconds{quantile="0.95"} 0.25"#,
                #"agent_bridge_approval_tickets{state="pending"} 0.0"#,
                #"agent_bridge_wake_attempts_total{result="dead"} 0"#,
                "agent_bridge_database_up 1.0",
                "agent_bridge_schema_current 1.0",
                "agent_bridge_supervisor_leader 1.0",
                "agent_bridge_listener_connected 0.0",
            ] {
                #expect(text.contains(line), "missing: \(line)")
            }
            #expect(text.contains(#"agent_bridge_supervisor_ticks_total{result="completed"} "#))

            // A second scrape adds only what grew since the first.
            let unread = try await h.store.workspaceMetrics(workspace: "local", attemptsSince: .distantPast).unreadMessages
            try await h.post("one more", in: talk, from: "alice", to: ["bob"], kind: .request)
            let second = await exporter.prometheusText()
            #expect(second.contains(#"agent_bridge_messages_posted_total{kind="request"} 2"#))
            #expect(second.contains("agent_bridge_escalations_total 1"))
            #expect(second.contains(#"agent_bridge_api_requests_total{tool="v1_inbox",code="OK"} 20"#))
            #expect(second.contains("agent_bridge_unread_messages \(Double(unread + 1))"))
        }
    }

    @Test func aWakeDeferredOnPurposeIsLeftOutOfTheWakeStartLatency() async throws {
        try await SupervisorHarness.run { h in
            // Prompt: woken in the tick right after the post.
            try await h.register("prompt", kind: .codexCLI, sessionID: "sess-prompt")
            let first = try await h.thread(by: "rev", members: ["prompt"])
            try await h.post("now", in: first, from: "rev", to: ["prompt"])
            await h.tick()
            try await h.waitForWake(of: "prompt", in: .acked)

            // Deferred: a human is typing at the target's terminal, so the wake waits 25 s by design.
            try await h.register("typing", kind: .codexCLI, sessionID: "sess-typing")
            let second = try await h.thread(by: "rev", members: ["typing"])
            try await h.heartbeat("typing", presence: .idle, humanInput: true)
            try await h.post("when you have a moment", in: second, from: "rev", to: ["typing"])
            await h.tick()
            #expect(try await h.latestWake(of: "typing").state == .deferred)
            h.advance(.seconds(25))
            await h.tick()
            let deferred = try await h.waitForWake(of: "typing", in: .acked)
            #expect(deferred.deferredSince != nil)
            #expect(deferred.attempts.count == 1)

            // Only the prompt wake counts: with the deferred one, p95 would be about 25 s.
            let figures = try await h.store.workspaceMetrics(workspace: "local", attemptsSince: .distantPast)
            let p95 = try #require(figures.wakeStartLatencyP95)
            #expect(p95 < 10, "p95 \(p95) s includes the deliberately deferred wake")
            #expect(figures.wakeStartLatencyP50 == p95, "one wake counted")
            let text = await MetricsExporter(supervisor: h.supervisor).prometheusText()
            let gauge = try #require(text.split(separator: "\n").first { $0.hasPrefix(#"agent_bridge_wake_start_latency_seconds{quantile="0.95"}"#) })
            let value = try #require(Double(gauge.split(separator: " ").last ?? ""))
            #expect(value < 10, "\(gauge)")
        }
    }
}
