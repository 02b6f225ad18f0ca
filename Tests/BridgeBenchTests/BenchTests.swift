import BridgeBench
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// Runs the real `agent-bridge bench --quick` against the test database server and reads its report.
/// Timings depend on the machine, so only the report's shape and its correctness figures are checked.
struct BenchTests {
    @Test func quickBenchWritesACompleteReportWithNoErrorsAndGaplessSeqs() async throws {
        let database = try await TestDatabase.create(logger: Logger(label: "bench-tests"))
        let directory = NSTemporaryDirectory() + "agent-bridge-bench-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = "\(directory)/report.json"

        let (status, stdout) = try await Self.runBench(["bench", "--quick", "--output", output, "--database-url", database.url])
        #expect(status == 0, "bench exited \(status); stdout:\n\(stdout)")
        #expect(stdout.contains("service level"))

        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for section in [
            "machine", "post_to_visible", "wake_trigger", "read_latency", "throughput", "mcp_throughput", "serve_initialize",
            "wire", "inbox", "memory", "errors", "gapless_seq", "service_levels", "settings",
        ] {
            #expect(object[section] != nil, "the report has no \(section)")
        }
        let report = try BenchReport.decode(data)
        #expect(report.errors.total == 0, "errors: \(report.errors.byStep)")
        #expect(report.gaplessSeq.pass)
        #expect(report.gaplessSeq.threads > 64)
        #expect(report.postToVisible.samples == report.settings.latencySamples)
        #expect(report.readLatency.samples == report.settings.latencySamples)
        #expect(report.wakeTrigger.clientObserved.samples == report.settings.wakeSamples)
        #expect(report.serveInitialize.samples == report.settings.serveSamples)
        Self.expectThroughputFigures(report)
        Self.expectWireFigures(report)
        Self.expectInboxAndMemoryFigures(report)
        #expect(!report.machine.postgresVersion.isEmpty)
        #expect(report.serviceLevels.contains { $0.sli == "gapless seqs" && $0.pass })

        // The scratch database is gone. Only this run's could be: the report was written after the drop.
        var adminConfiguration = PostgresStore.Configuration(endpoint: database.endpoint.with(database: "postgres"))
        adminConfiguration.maximumConnections = 1
        let admin = PostgresStore(configuration: adminConfiguration, logger: Logger(label: "bench-tests"))
        let scratchNames = try await TestDatabase.run(admin) { client in
            var names: [String] = []
            let rows = try await client.query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'agent_bridge_scratch_bench_%'",
                logger: Logger(label: "bench-tests")
            )
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        }
        #expect(scratchNames.isEmpty, "left behind: \(scratchNames)")
    }

    /// Every posts/s step has every poster's figure, each with posts made and both ratios; only presence is
    /// checked, never a speed.
    static func expectThroughputFigures(_ report: BenchReport) {
        #expect(report.throughput.count == report.settings.writerCounts.count * 2)
        for step in report.throughput {
            #expect(
                Set(step.figures.keys) == ["service", "minimal_append", "statement", "statement_with_notify"],
                "\(step.layout) \(step.writers): \(step.figures.keys)"
            )
            for (poster, figure) in step.figures {
                #expect(figure.posts > 0 && figure.vsStatement > 0 && figure.vsMinimalAppend > 0, "\(step.layout) \(step.writers) \(poster)")
            }
        }
        #expect(report.mcpThroughput.map(\.processes) == [1, 4, 16, 1, 4, 16])
        for step in report.mcpThroughput {
            #expect(Set(step.figures.keys) == ["mcp", "minimal_append", "statement"], "\(step.layout) \(step.processes): \(step.figures.keys)")
            for (poster, figure) in step.figures {
                #expect(figure.posts > 0 && figure.vsStatement > 0 && figure.vsMinimalAppend > 0, "\(step.layout) \(step.processes) \(poster)")
            }
        }
    }

    /// The wire step talked to its serve child and timed every call: each figure is there and above zero.
    /// Only presence is checked, never a speed.
    static func expectWireFigures(_ report: BenchReport) {
        let wire = report.wire
        let reads = report.settings.wireSamples
        #expect(wire.read.roundTrip.samples == reads)
        #expect(wire.post.roundTrip.samples >= max(reads, 50))
        #expect(wire.messagesPerRead == 50, "every read is a full page")
        // serve logged one tool.call line per successful call, and its duration_ms was read.
        #expect(wire.read.serverSide.samples == wire.read.roundTrip.samples)
        #expect(wire.post.serverSide.samples == wire.post.roundTrip.samples)
        #expect(wire.postgresPageQuery.samples == reads)
        for (name, summary) in [
            ("post round trip", wire.post.roundTrip), ("post server side", wire.post.serverSide),
            ("read round trip", wire.read.roundTrip), ("read server side", wire.read.serverSide),
            ("PostgreSQL page query", wire.postgresPageQuery),
        ] {
            #expect(summary.p50Ms > 0 && summary.p95Ms > 0, "\(name): \(summary)")
        }
        #expect(wire.serveCpuPerReadMs > 0)
        #expect(wire.cpuPerReadToPageQuery > 0)
        for sli in ["p50 server-side read of 50 (serve log)", "p50 server-side post (serve log)", "serve CPU per read ÷ PostgreSQL page time"] {
            #expect(report.serviceLevels.contains { $0.sli == sli }, "no service level \(sli)")
        }
    }

    /// The inbox step read its seeded mailbox through serve and the memory step read serve's memory twice.
    /// Only presence is checked, never a speed or a size.
    static func expectInboxAndMemoryFigures(_ report: BenchReport) {
        let inbox = report.inbox
        #expect(inbox.threads == report.settings.inboxThreads)
        #expect(inbox.messages == inbox.threads * 20)
        #expect(inbox.unread == inbox.threads * 15, "broadcasts and those directed to the reader: three quarters")
        #expect(inbox.messagesPerCall == 50, "every inbox call is a full page")
        #expect(inbox.roundTrip.samples == report.settings.wireSamples)
        #expect(inbox.serverSide.samples == inbox.roundTrip.samples)
        #expect(inbox.postgresQuery.samples == report.settings.wireSamples)
        let memory = report.memory
        #expect(memory.posts == report.settings.memoryCalls && memory.reads == report.settings.memoryCalls)
        #expect(memory.idle.rssAnonKib > 0 && memory.idle.rssFileKib > 0)
        #expect(memory.afterLoad.rssAnonKib > 0 && memory.afterLoad.rssFileKib > 0)
        for sli in ["serve RssAnon, idle", "serve RssAnon, after \(memory.posts) posts and \(memory.reads) reads"] {
            #expect(report.serviceLevels.contains { $0.sli == sli }, "no service level \(sli)")
        }
    }

    /// Runs the built binary with `arguments`; returns its exit status and stdout. Bounded: killed after 5 minutes.
    static func runBench(_ arguments: [String]) async throws -> (Int32, String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    process.executableURL = TestDatabase.executableURL
                    process.arguments = arguments
                    var environment = ProcessInfo.processInfo.environment
                    environment["AGENT_BRIDGE_DB_TIMEOUT_MS"] = "30000"
                    process.environment = environment
                    let stdout = Pipe()
                    process.standardOutput = stdout
                    process.standardError = FileHandle.nullDevice
                    try process.run()
                    let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
                    DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)
                    let text = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    process.waitUntilExit()
                    watchdog.cancel()
                    continuation.resume(returning: (process.terminationStatus, text))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
