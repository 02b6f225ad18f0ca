import BridgeCore
import BridgeService
import Foundation

extension BenchSession {
    /// Post-to-visible: the writer posts through the service on its store; the reader, on its own store,
    /// long-polls `read` with `wait_seconds` as `v1_message_read` does. A sample is the time from just before
    /// the post call until the reader holds that seq. Samples run one at a time, with a short pause so the
    /// reader is back in its wait when the next post commits.
    func measurePostToVisible() async throws -> LatencySummary {
        let samples = configuration.latencySamples
        let thread = try fixture.latencyThread
        let (deliveries, delivered) = AsyncStream<(seq: Int64, at: ContinuousClock.Instant)>.makeStream()
        return try await withThrowingTaskGroup(of: [Duration]?.self) { group in
            group.addTask {
                defer { delivered.finish() }
                var afterSeq: Int64 = 0
                let deadline = ContinuousClock.now + .seconds(30 + samples)
                while !Task.isCancelled && ContinuousClock.now < deadline {
                    do {
                        let input = try Self.readInput(thread: thread, afterSeq: afterSeq, limit: 50, waitSeconds: 10)
                        let page = try await self.readerService.read(input, context: self.context(Fixture.reader))
                        let seen = ContinuousClock.now
                        self.tally.record(step: "post_to_visible", kind: .read, error: nil)
                        for message in page.messages { delivered.yield((message.seq, seen)) }
                        afterSeq = page.nextAfterSeq
                    } catch is CancellationError {
                        break
                    } catch {
                        if Task.isCancelled { break }
                        self.tally.record(step: "post_to_visible", kind: .read, error: error)
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                return nil
            }
            group.addTask {
                var latencies: [Duration] = []
                var iterator = deliveries.makeAsyncIterator()
                let input = try Self.postInput(thread: thread, body: "post-to-visible sample")
                for _ in 0..<samples {
                    try Task.checkCancellation()
                    try? await Task.sleep(for: .milliseconds(5))
                    let start = ContinuousClock.now
                    let seq: Int64
                    do {
                        seq = try await self.service.post(
                            input,
                            schemaVersion: SchemaVersion.current,
                            context: self.context(Fixture.writer),
                            idempotency: nil
                        ).message.seq
                        self.tally.record(step: "post_to_visible", kind: .post, error: nil)
                    } catch {
                        self.tally.record(step: "post_to_visible", kind: .post, error: error)
                        continue
                    }
                    while let delivery = await iterator.next() {
                        if delivery.seq >= seq {
                            latencies.append(start.duration(to: delivery.at))
                            break
                        }
                    }
                }
                return latencies
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let latencies = result { return LatencySummary(latencies) }
            }
            return LatencySummary([])
        }
    }

    /// Read latency: non-waiting reads of the latest page (50 messages) of the hot thread, one at a time.
    func measureReadLatency() async throws -> LatencySummary {
        let fixture = try fixture
        let reader = fixture.writers[0]
        // An untimed first read finds where the latest page starts.
        var lastSeq = try await readerService.read(
            try Self.readInput(thread: fixture.hotThread, afterSeq: 0, limit: 1, waitSeconds: 0),
            context: context(reader)
        ).lastSeq
        var latencies: [Duration] = []
        for _ in 0..<configuration.latencySamples {
            try Task.checkCancellation()
            let input = try Self.readInput(thread: fixture.hotThread, afterSeq: max(0, lastSeq - 50), limit: 50, waitSeconds: 0)
            let start = ContinuousClock.now
            do {
                let page = try await readerService.read(input, context: context(reader))
                latencies.append(start.duration(to: .now))
                lastSeq = page.lastSeq
                tally.record(step: "read_latency", kind: .read, error: nil)
            } catch {
                tally.record(step: "read_latency", kind: .read, error: error)
            }
        }
        return LatencySummary(latencies)
    }
}
