import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO
import Synchronization

extension BenchSession {
    /// The messages each wire read asks for; the thread gets at least this many posts, so every page is full.
    static let wirePageSize = 50

    /// What the raw client saw of its serve child, before it is summarised.
    struct WireTranscript: Sendable {
        var thread: UUID?
        /// The `after_seq` of every read: the thread's last seq minus the page size.
        var readAfterSeq: Int64 = 0
        var posts = 0
        var reads = 0
        var postRoundTrips: [Duration] = []
        var readRoundTrips: [Duration] = []
        var messagesPerRead = 0
        var serveCPUPerPost: Duration?
        var serveCPUPerRead: Duration?
        var toolCalls: [WireClient.ToolCallLine] = []
    }

    /// Set when the bench is cancelled, so the blocking wire script stops before its next call.
    final class WireStopRequest: Sendable {
        private let requested = Atomic<Bool>(false)

        func request() { requested.store(true, ordering: .relaxed) }
        var isRequested: Bool { requested.load(ordering: .relaxed) }
    }

    /// The wire step: one `agent-bridge serve` child, driven by a raw JSON-RPC client over its pipes (see
    /// ``runWireScript(stop:)``), then the store's page query for the same page sent alone over PostgresNIO.
    func measureWire() async throws -> BenchReport.WireResult {
        let stop = WireStopRequest()
        // Pipe I/O blocks, so the script runs on a dispatch queue, off the cooperative pool.
        let transcript = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: self.runWireScript(stop: stop)) }
            }
        } onCancel: {
            stop.request()
        }
        try Task.checkCancellation()
        var pageQuery: [Duration] = []
        if let thread = transcript.thread, transcript.reads > 0 {
            pageQuery = try await measurePageQuery(thread: thread, afterSeq: transcript.readAfterSeq, samples: configuration.wireSamples)
        }

        func serverSide(_ tool: String) -> LatencySummary {
            LatencySummary(transcript.toolCalls.filter { $0.tool == tool && $0.code == "OK" }.map { .nanoseconds(Int64($0.durationMs * 1_000_000)) })
        }
        let pageSummary = LatencySummary(pageQuery)
        let cpuPerRead = transcript.serveCPUPerRead?.milliseconds ?? 0
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return BenchReport.WireResult(
            post: .init(roundTrip: LatencySummary(transcript.postRoundTrips), serverSide: serverSide("v1_message_post")),
            read: .init(roundTrip: LatencySummary(transcript.readRoundTrips), serverSide: serverSide("v1_message_read")),
            messagesPerRead: transcript.messagesPerRead,
            serveCpuPerPostMs: transcript.serveCPUPerPost?.milliseconds ?? 0,
            serveCpuPerReadMs: cpuPerRead,
            postgresPageQuery: pageSummary,
            cpuPerReadToPageQuery: cpuPerRead > 0 && pageSummary.p50Ms > 0 ? cpuPerRead / pageSummary.p50Ms : 0,
            method: """
                A raw JSON-RPC client drives one `agent-bridge serve --log-level info` child over its pipes, one request \
                at a time: initialize, v1_thread_create, \(transcript.posts) v1_message_post (distinct bodies, kind note), \
                then \(transcript.reads) non-waiting v1_message_read of the latest \(Self.wirePageSize) messages. Round trip: \
                request line written until reply line read. Server side: duration_ms of serve's tool.call log lines. \
                CPU: utime + stime of /proc/PID/stat (\(ticks) ticks a second) over each loop, divided by its calls. \
                PostgreSQL page: the store's read query for the same page, sent alone over PostgresNIO by the bench \
                after serve stopped.
                """
        )
    }

    /// Starts the serve child and talks to it: `initialize`, `notifications/initialized`, `v1_thread_create`,
    /// then the posts and the reads, each call awaited before the next. Blocks; bounded by a time budget,
    /// and the child's watchdog stops it a little after that. Every failed call is counted in the tally.
    private func runWireScript(stop: WireStopRequest) -> WireTranscript {
        let samples = configuration.wireSamples
        let posts = max(samples, Self.wirePageSize)
        let budget = Duration.seconds(30) + .milliseconds(200) * (posts + samples)
        let deadline = ContinuousClock.now + budget
        var transcript = WireTranscript()
        let client: WireClient
        do {
            client = try WireClient(
                executable: configuration.executablePath,
                databaseURL: endpoint.url,
                workspace: Fixture.workspace,
                participant: Fixture.wire,
                lifetime: budget + .seconds(15)
            )
        } catch {
            tally.add(step: "wire", kind: .serve, calls: 0, failures: [(error as? WireClient.Failure)?.code ?? "SERVE_NOT_STARTED": 1])
            return transcript
        }
        do {
            try converse(with: client, posts: posts, reads: samples, until: deadline, stop: stop, into: &transcript)
        } catch {
            // A transport failure ends the conversation; the call it happened in was already counted.
        }
        transcript.toolCalls = client.stop()
        return transcript
    }

    private func converse(
        with client: WireClient,
        posts: Int,
        reads: Int,
        until deadline: ContinuousClock.Instant,
        stop: WireStopRequest,
        into transcript: inout WireTranscript
    ) throws {
        let timeout = Duration.seconds(10)
        func fail(_ code: String, kind: ErrorTally.Kind = .serve) {
            tally.add(step: "wire", kind: kind, calls: kind == .serve ? 0 : 1, failures: [code: 1])
        }
        /// Whether the next call may start: not cancelled, and within the time budget (else counted as a failure).
        func mayContinue() -> Bool {
            if stop.isRequested { return false }
            if ContinuousClock.now >= deadline {
                fail("TIME_BUDGET_EXCEEDED")
                return false
            }
            return true
        }
        /// One tool call counted as `kind`: a tool error is counted and returned, a transport failure counted and thrown.
        func call(_ tool: String, _ arguments: [String: Any], kind: ErrorTally.Kind) throws -> WireClient.ToolReply {
            do {
                let reply = try client.callTool(tool, arguments: arguments, timeout: timeout)
                tally.add(step: "wire", kind: kind, calls: kind == .serve ? 0 : 1, failures: reply.errorCode.map { [$0: 1] } ?? [:])
                return reply
            } catch let failure as WireClient.Failure {
                fail(failure.code, kind: kind)
                throw failure
            }
        }

        do {
            let hello = try client.request(
                "initialize",
                params: [
                    "protocolVersion": "2025-11-25", "capabilities": [String: Any](),
                    "clientInfo": ["name": "agent-bridge-bench-wire", "version": "1"],
                ],
                timeout: timeout
            )
            guard hello.message["result"] != nil else { return fail("NO_INITIALIZE_REPLY") }
            try client.notify("notifications/initialized")
        } catch let failure as WireClient.Failure {
            fail(failure.code)
            throw failure
        }

        let created = try call("v1_thread_create", ["title": "wire"], kind: .serve)
        guard created.errorCode == nil,
            let id = ((created.structured["thread"] as? [String: Any])?["id"] as? String).flatMap(UUID.init(uuidString:))
        else {
            if created.errorCode == nil { fail("NO_THREAD_ID") }
            return
        }
        transcript.thread = id

        var lastSeq: Int64 = 0
        let postsStarted = client.cpuTime()
        for index in 0..<posts {
            guard mayContinue() else { return }
            let reply = try call(
                "v1_message_post",
                [
                    "thread_id": id.wireString, "body": "wire post \(index + 1) of \(posts)", "kind": "note",
                ],
                kind: .post
            )
            transcript.posts += 1
            guard reply.errorCode == nil else { continue }
            transcript.postRoundTrips.append(reply.roundTrip)
            if let seq = ((reply.structured["message"] as? [String: Any])?["seq"] as? NSNumber)?.int64Value { lastSeq = max(lastSeq, seq) }
        }
        if let started = postsStarted, let ended = client.cpuTime(), transcript.posts > 0 {
            transcript.serveCPUPerPost = (ended - started) / transcript.posts
        }

        transcript.readAfterSeq = max(0, lastSeq - Int64(Self.wirePageSize))
        let readsStarted = client.cpuTime()
        for _ in 0..<reads {
            guard mayContinue() else { return }
            let reply = try call(
                "v1_message_read",
                [
                    "thread_id": id.wireString, "after_seq": transcript.readAfterSeq, "limit": Self.wirePageSize, "wait_seconds": 0,
                ],
                kind: .read
            )
            transcript.reads += 1
            guard reply.errorCode == nil else { continue }
            transcript.readRoundTrips.append(reply.roundTrip)
            transcript.messagesPerRead = (reply.structured["messages"] as? [Any])?.count ?? 0
        }
        if let started = readsStarted, let ended = client.cpuTime(), transcript.reads > 0 {
            transcript.serveCPUPerRead = (ended - started) / transcript.reads
        }
    }

    /// The store's page statement (``MessagePageStatement``, prepared, the one `readMessages` sends) for the wire
    /// thread's page, sent alone on the writers' client, `samples` times one after another after one untimed call.
    /// Each sample is from the call until its last row is in.
    private func measurePageQuery(thread: UUID, afterSeq: Int64, samples: Int) async throws -> [Duration] {
        let statement = MessagePageStatement(
            threadID: thread,
            afterSeq: afterSeq,
            limit: Self.wirePageSize,
            handle: Fixture.wire,
            workspace: Fixture.workspace
        )
        var latencies: [Duration] = []
        for index in 0...samples {
            try Task.checkCancellation()
            let start = ContinuousClock.now
            do {
                let rows = try await writerStore.client.execute(statement, logger: logger)
                for try await _ in rows {}
                if index > 0 { latencies.append(start.duration(to: .now)) }
                tally.record(step: "wire_page_query", kind: .rawRead, error: nil)
            } catch {
                tally.record(step: "wire_page_query", kind: .rawRead, error: error)
            }
        }
        return latencies
    }
}
