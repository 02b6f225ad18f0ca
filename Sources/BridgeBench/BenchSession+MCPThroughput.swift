import BridgeCore
import BridgeService
import BridgeStore
import Foundation
import Synchronization

extension BenchSession {
    /// Where the `serve` children of one MCP posts/s step are: started and posting, then idle while the bench's
    /// own writers measure the baselines, then posting again. Each child is driven from a dispatch thread of its
    /// own; the two sides meet on this state, polled every millisecond.
    final class MCPFleet: Sendable {
        struct State {
            /// Children that are up (initialized, one post made) or gave up.
            var settled = 0
            /// Children up and able to post.
            var up = 0
            /// The posting phase that may run now, with its end; the children post until then.
            var phase = 0
            var deadline: ContinuousClock.Instant?
            /// Children done with the current phase.
            var finished = 0
            var posts = 0
            var failures: [String: Int] = [:]
            var phaseEnd: ContinuousClock.Instant?
            var stopping = false
            /// Children whose driver has returned (its serve stopped).
            var exited = 0
        }

        let state = Mutex(State())
    }

    /// MCP posts/s through `processes` real `agent-bridge serve` children, each a JSON-RPC client posting over its
    /// stdio as a distinct writer, to the threads of `layout`. Halves: MCP, (b), (a), (a), (b), MCP; the children
    /// stay up but idle while the bench's own writers, as many as there are children, post the baselines.
    func measureMCPThroughput(processes: Int, layout: Layout, catalogDirectory: String) async throws -> BenchReport.MCPThroughputResult {
        let fixture = try fixture
        let threads = layout == .hot ? [fixture.hotThread] : fixture.spreadThreads
        let processes = min(processes, fixture.writers.count)
        let step = "mcp_posts_\(layout.rawValue)_\(processes)"
        let half = configuration.stepDuration / 2
        let fleet = MCPFleet()
        let lifetime = Duration.seconds(60) + configuration.stepDuration * 4
        for child in 0..<processes {
            DispatchQueue.global().async {
                self.driveMCPChild(
                    child,
                    of: processes,
                    handle: fixture.writers[child],
                    threads: threads,
                    catalogDirectory: catalogDirectory,
                    lifetime: lifetime,
                    fleet: fleet
                )
            }
        }
        // Whatever happens below, the children are told to stop, and the bench waits for them to go.
        func stopFleet() async {
            fleet.state.withLock { $0.stopping = true }
            await waitFor(fleet, within: .seconds(30)) { $0.exited == processes }
        }

        let startDeadline = ContinuousClock.now + .seconds(30)
        await waitFor(fleet, within: .seconds(30)) { $0.settled == processes }
        let up = fleet.state.withLock { $0.up }
        guard up == processes, ContinuousClock.now < startDeadline, !Task.isCancelled else {
            await stopFleet()
            tally.add(step: step, kind: .serve, calls: 0, failures: ["SERVE_NOT_STARTED": processes - up])
            try Task.checkCancellation()
            return .init(processes: processes, layout: layout.rawValue, figures: [:])
        }

        var mcp = StepResult(posts: 0, errors: 0, seconds: 0)
        func runMCPHalf() async {
            let start = ContinuousClock.now
            fleet.state.withLock { state in
                state.finished = 0
                state.posts = 0
                state.failures = [:]
                state.deadline = start + half
                state.phaseEnd = nil
                state.phase += 1
            }
            await waitFor(fleet, within: half + .seconds(15)) { $0.finished == $0.up }
            let (posts, failures, end) = fleet.state.withLock { ($0.posts, $0.failures, $0.phaseEnd ?? .now) }
            let errors = failures.values.reduce(0, +)
            tally.add(step: step, kind: .post, calls: posts + errors, failures: failures)
            mcp = mcp + StepResult(posts: posts, errors: errors, seconds: start.duration(to: end).milliseconds / 1000)
        }

        var baselines: [PostBaseline: StepResult] = [:]
        do {
            await runMCPHalf()
            for baseline in [PostBaseline.statement, .minimalAppend, .minimalAppend, .statement] {
                let result = try await measureThroughput(writers: processes, layout: layout, poster: .baseline(baseline), duration: half)
                baselines[baseline] = baselines[baseline].map { $0 + result } ?? result
            }
            await runMCPHalf()
        } catch {
            await stopFleet()
            throw error
        }
        await stopFleet()

        let statement = baselines[.statement]?.postsPerSecond ?? 0
        let minimal = baselines[.minimalAppend]?.postsPerSecond ?? 0
        var figures: [String: BenchReport.PostsFigure] = [
            "mcp": .init(mcp, statement: statement, minimalAppend: minimal)
        ]
        for (baseline, result) in baselines {
            figures[baseline.rawValue] = .init(result, statement: statement, minimalAppend: minimal)
        }
        return .init(processes: processes, layout: layout.rawValue, figures: figures)
    }

    /// Waits, polling every 2 ms, until `condition` holds of the fleet's state or `limit` has passed.
    private func waitFor(_ fleet: MCPFleet, within limit: Duration, _ condition: @Sendable (MCPFleet.State) -> Bool) async {
        let deadline = ContinuousClock.now + limit
        while !fleet.state.withLock({ condition($0) }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// One child's life, on its dispatch thread: start, `initialize`, one untimed post, then each posting phase
    /// the fleet opens until it stops. Blocks; every call is bounded by a timeout and the child by `lifetime`.
    private func driveMCPChild(
        _ child: Int,
        of processes: Int,
        handle: String,
        threads: [UUID],
        catalogDirectory: String,
        lifetime: Duration,
        fleet: MCPFleet
    ) {
        defer { fleet.state.withLock { $0.exited += 1 } }
        let timeout = Duration.seconds(10)
        let client: WireClient
        do {
            client = try WireClient(
                executable: configuration.executablePath,
                databaseURL: endpoint.url,
                workspace: Fixture.workspace,
                participant: handle,
                lifetime: lifetime,
                logLevel: "warning",
                environment: ["AGENT_BRIDGE_CATALOG": catalogDirectory]
            )
        } catch {
            fleet.state.withLock { $0.settled += 1 }
            return
        }
        defer { _ = client.stop() }
        var count = 0
        func post() -> String? {
            defer { count += 1 }
            let thread = threads[(child + count * processes) % threads.count]
            do {
                let reply = try client.callTool(
                    "v1_message_post",
                    arguments: ["thread_id": thread.wireString, "body": "mcp throughput sample"],
                    timeout: timeout
                )
                return reply.errorCode
            } catch let failure as WireClient.Failure {
                return failure.code
            } catch {
                return "NO_REPLY"
            }
        }
        do {
            let hello = try client.request(
                "initialize",
                params: [
                    "protocolVersion": "2025-11-25", "capabilities": [String: Any](),
                    "clientInfo": ["name": "agent-bridge-bench-mcp-throughput", "version": "1"],
                ],
                timeout: timeout
            )
            guard hello.message["result"] != nil else { throw WireClient.Failure.closed }
            try client.notify("notifications/initialized")
            guard post() == nil else { throw WireClient.Failure.closed }
        } catch {
            fleet.state.withLock { $0.settled += 1 }
            return
        }
        fleet.state.withLock { state in
            state.settled += 1
            state.up += 1
        }

        var phase = 0
        /// The end of the next posting phase, once it opens; nil when the fleet stops.
        func nextPhase() -> ContinuousClock.Instant? {
            while true {
                let (stopping, current, end) = fleet.state.withLock { ($0.stopping, $0.phase, $0.deadline) }
                if stopping { return nil }
                if current > phase, let end {
                    phase = current
                    return end
                }
                usleep(1000)
            }
        }
        while let deadline = nextPhase() {
            var posts = 0
            var failures: [String: Int] = [:]
            // Bounded by count as well as by time.
            while posts + failures.values.reduce(0, +) < 1_000_000, ContinuousClock.now < deadline, !fleet.state.withLock({ $0.stopping }) {
                if let code = post() { failures[code, default: 0] += 1 } else { posts += 1 }
            }
            fleet.state.withLock { [posts, failures] state in
                state.posts += posts
                state.failures.merge(failures, uniquingKeysWith: +)
                state.finished += 1
                state.phaseEnd = max(state.phaseEnd ?? .now, .now)
            }
        }
    }

    /// A copy of the catalog folder the bench runs with (the bundled one when none was given) with no post rate
    /// limit, for the `serve` children of the MCP posts/s steps: they measure the path, not the throttle.
    func unthrottledCatalogFolder() throws -> String {
        guard let source = configuration.catalogDirectory ?? CatalogLoader.bundledDirectory else {
            throw BridgeError(.internal, .internalError, "No catalog folder for the serve children.")
        }
        let copy = NSTemporaryDirectory() + "agent-bridge-bench-catalog-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where name.hasSuffix(".yaml") {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(copy)/\(name)")
        }
        let policy = "\(copy)/policy.yaml"
        if let text = try? String(contentsOfFile: policy, encoding: .utf8) {
            // Drops the top-level `rate_limits:` section: its line and the indented, blank or comment lines after it.
            var kept: [Substring] = []
            var skipping = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("rate_limits:") {
                    skipping = true
                } else if skipping, !(line.isEmpty || line.first == " " || line.first == "#") {
                    skipping = false
                }
                if !skipping { kept.append(line) }
            }
            try kept.joined(separator: "\n").write(toFile: policy, atomically: true, encoding: .utf8)
        }
        return copy
    }
}
