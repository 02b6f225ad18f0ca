import BridgeCore
import BridgeService
import Foundation

extension BenchSession {
    /// The memory step: one `serve` child's resident memory (`RssAnon`, `RssFile` of `/proc/PID/status`) idle
    /// after `initialize`, and again after `memoryCalls` posts and as many reads of the latest page through it.
    ///
    /// The child runs on a copy of the catalog without the post rate limit, so the load is not throttled.
    func measureMemory() async throws -> BenchReport.MemoryResult {
        let catalog = try unthrottledCatalogDirectory()
        defer { try? FileManager.default.removeItem(atPath: catalog) }
        let stop = WireStopRequest()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: self.runMemoryScript(catalog: catalog, stop: stop)) }
            }
        } onCancel: {
            stop.request()
        }
        try Task.checkCancellation()
        return result
    }

    /// How long the child is left alone before its memory is read: long enough for start-up work to settle.
    static let memorySettle: Duration = .seconds(1)

    private func runMemoryScript(catalog: String, stop: WireStopRequest) -> BenchReport.MemoryResult {
        let calls = configuration.memoryCalls
        let budget = Duration.seconds(30) + .milliseconds(50) * calls
        let deadline = ContinuousClock.now + budget
        var result = BenchReport.MemoryResult(
            idle: .init(rssAnonKib: 0, rssFileKib: 0),
            afterLoad: .init(rssAnonKib: 0, rssFileKib: 0),
            posts: 0,
            reads: 0,
            method: """
                One `agent-bridge serve --log-level info` child on a copy of the catalog without the post rate limit. \
                Idle: /proc/PID/status RssAnon and RssFile \(Self.memorySettle.milliseconds / 1000) s after the \
                initialize reply. After load: the same, \(Self.memorySettle.milliseconds / 1000) s after \(calls) \
                v1_message_post calls, each followed by a non-waiting v1_message_read of the latest 50 messages, one \
                call at a time.
                """
        )
        let client: WireClient
        do {
            client = try WireClient(
                executable: configuration.executablePath,
                databaseURL: endpoint.url,
                workspace: Fixture.workspace,
                participant: Fixture.memory,
                lifetime: budget + .seconds(15),
                environment: ["AGENT_BRIDGE_CATALOG": catalog]
            )
        } catch {
            tally.add(step: "memory", kind: .serve, calls: 0, failures: [(error as? WireClient.Failure)?.code ?? "SERVE_NOT_STARTED": 1])
            return result
        }
        defer { _ = client.stop() }
        func sample() -> BenchReport.ResidentMemory? {
            guard let memory = client.residentMemory() else {
                tally.add(step: "memory", kind: .serve, calls: 0, failures: ["NO_PROC_STATUS": 1])
                return nil
            }
            return .init(rssAnonKib: memory.anonymousKiB, rssFileKib: memory.fileKiB)
        }
        do {
            guard try client.initialize(timeout: .seconds(10)) else {
                tally.add(step: "memory", kind: .serve, calls: 0, failures: ["NO_INITIALIZE_REPLY": 1])
                return result
            }
            Thread.sleep(forTimeInterval: Self.memorySettle.timeInterval)
            guard let idle = sample() else { return result }
            result.idle = idle
            let created = try client.callTool("v1_thread_create", arguments: ["title": "memory"], timeout: .seconds(10))
            guard created.errorCode == nil, let thread = (created.structured["thread"] as? [String: Any])?["id"] as? String else {
                tally.add(step: "memory", kind: .serve, calls: 0, failures: [created.errorCode ?? "NO_THREAD_ID": 1])
                return result
            }
            var lastSeq: Int64 = 0
            for index in 0..<calls {
                if stop.isRequested { return result }
                if ContinuousClock.now >= deadline {
                    tally.add(step: "memory", kind: .serve, calls: 0, failures: ["TIME_BUDGET_EXCEEDED": 1])
                    break
                }
                let post = try client.callTool(
                    "v1_message_post",
                    arguments: ["thread_id": thread, "body": "memory post \(index + 1) of \(calls)", "kind": "note"],
                    timeout: .seconds(10)
                )
                tally.add(step: "memory", kind: .post, calls: 1, failures: post.errorCode.map { [$0: 1] } ?? [:])
                result.posts += 1
                if let seq = ((post.structured["message"] as? [String: Any])?["seq"] as? NSNumber)?.int64Value { lastSeq = max(lastSeq, seq) }
                let read = try client.callTool(
                    "v1_message_read",
                    arguments: ["thread_id": thread, "after_seq": max(0, lastSeq - 50), "limit": 50, "wait_seconds": 0],
                    timeout: .seconds(10)
                )
                tally.add(step: "memory", kind: .read, calls: 1, failures: read.errorCode.map { [$0: 1] } ?? [:])
                result.reads += 1
            }
            Thread.sleep(forTimeInterval: Self.memorySettle.timeInterval)
            if let loaded = sample() { result.afterLoad = loaded }
        } catch {
            tally.add(step: "memory", kind: .serve, calls: 0, failures: [(error as? WireClient.Failure)?.code ?? "NO_REPLY": 1])
        }
        return result
    }

    /// A temporary copy of the catalog the bench runs on, its post rate limit removed; the caller deletes it.
    private func unthrottledCatalogDirectory() throws -> String {
        guard let bundled = CatalogLoader.bundledDirectory else {
            throw BridgeError(.internal, .internalError, "No catalog folder to copy for the memory step.")
        }
        let copy = NSTemporaryDirectory() + "agent-bridge-bench-catalog-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.copyItem(atPath: bundled, toPath: copy)
        let policy = "\(copy)/policy.yaml"
        let text = try String(contentsOfFile: policy, encoding: .utf8)
        // rate_limits is the last section of policy.yaml; without it there is no limit.
        if let section = text.range(of: "\nrate_limits:") {
            try String(text[..<section.lowerBound] + "\n").write(toFile: policy, atomically: true, encoding: .utf8)
        }
        return copy
    }
}
