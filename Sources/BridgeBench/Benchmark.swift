import BridgeCore
import BridgeStore
import Foundation
import Logging

/// `agent-bridge bench`: measures the service levels (README, Service levels) on a scratch database next to the
/// one given, and drops it afterwards (also when the run fails or is cancelled).
///
/// Steps: post-to-visible latency; posts/s through the service and as each raw-PostgreSQL baseline (a minimal
/// append, the post statement without and with its notify), at each writer count, on one hot thread and spread
/// over many; posts/s through real `serve` processes; read latency; message-to-wake-trigger latency with an
/// in-process supervisor; `serve` start to `initialize` reply; posts and reads through one `serve` child
/// driven by a raw JSON-RPC client; and a gapless-seq check over every thread.
public struct Benchmark: Sendable {
    /// Sizes and inputs of a run.
    public struct Configuration: Sendable {
        /// The CI size: short steps, few samples.
        public var quick: Bool
        /// How long each poster (the service, each baseline, the `serve` children) posts in each posts/s step,
        /// in two halves.
        public var stepDuration: Duration
        /// Post-to-visible and read-latency samples.
        public var latencySamples: Int
        /// Message-to-wake-trigger samples, each with its own target and thread.
        public var wakeSamples: Int
        /// `serve` processes started.
        public var serveSamples: Int
        /// Reads through the wire step's `serve` child; it posts as many, and at least one page (50).
        /// At most 500, below the post rate limit the child keeps (the catalog's default is 600 a minute).
        public var wireSamples: Int
        /// Threads of the inbox step's mailbox, 20 messages each: 500 (10,000 messages), or 50 with `quick`.
        public var inboxThreads: Int
        /// Posts, and as many reads, through the memory step's `serve` child: 10,000, or 500 with `quick`.
        public var memoryCalls: Int
        public var writerCounts = [1, 8, 32]
        /// `serve` processes of the MCP posts/s steps; at most the largest writer count.
        public var mcpProcessCounts = [1, 4, 16]
        /// The catalog folder `catalog` was loaded from (nil: the bundled one); the `serve` children get a copy
        /// of it without the post rate limit.
        public var catalogDirectory: String?
        /// Threads of the `spread` layout.
        public var spreadThreads = 64
        /// Roles, timings and limits; its post rate limit is switched off, so the bench measures the
        /// database and not the throttle.
        public var catalog: PolicyCatalog
        /// The `agent-bridge` binary whose `serve` is timed.
        public var executablePath: String
        /// Called as each step starts.
        public var progress: @Sendable (Progress) -> Void = { _ in }

        public init(quick: Bool, catalog: PolicyCatalog, executablePath: String) {
            self.quick = quick
            stepDuration = quick ? .milliseconds(600) : .seconds(3)
            latencySamples = quick ? 40 : 200
            wakeSamples = quick ? 8 : 40
            serveSamples = quick ? 3 : 10
            wireSamples = quick ? 50 : 200
            inboxThreads = quick ? 50 : 500
            memoryCalls = quick ? 500 : 10_000
            var catalog = catalog
            catalog.postRateLimit = nil
            self.catalog = catalog
            self.executablePath = executablePath
        }

        /// Sets every sample count from one number: latency samples `n`, wake samples `n/5`, serve samples `n/20`
        /// (at least 3 each), wire samples `n` (at most 500).
        public mutating func scaleSamples(to samples: Int) {
            latencySamples = max(samples, 1)
            wireSamples = min(max(samples, 1), 500)
            wakeSamples = max(samples / 5, 3)
            serveSamples = max(samples / 20, 3)
        }
    }

    /// A step starting: `step` of `total`.
    public struct Progress: Sendable {
        public var step: Int
        public var total: Int
        public var label: String
    }

    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Creates a scratch database on `base`'s server, measures, drops the database, and returns the report.
    /// Throws when the scratch database cannot be made or a step cannot run at all (errors of single calls
    /// are counted in the report instead), and `CancellationError` when cancelled.
    public func run(on base: DatabaseEndpoint, databaseDescription: String) async throws -> BenchReport {
        let scratch = try await ScratchDatabase.create(on: base, purpose: "bench", logger: logger)
        let outcome: Result<BenchReport, any Error>
        do {
            outcome = .success(try await measure(scratch.endpoint, databaseDescription: databaseDescription))
        } catch {
            outcome = .failure(error)
        }
        // Dropped from a task of its own: a cancelled task could not start the pool that drops it.
        let logger = logger
        await Task { await scratch.drop(logger: logger) }.value
        return try outcome.get()
    }

    private func measure(_ endpoint: DatabaseEndpoint, databaseDescription: String) async throws -> BenchReport {
        let startedAt = Date()
        let clock = ContinuousClock.now
        let session = BenchSession(configuration: configuration, endpoint: endpoint, logger: logger)
        return try await session.withRunningStores {
            session.begin("setting up participants and threads")
            try await session.setUp()
            let server = try await session.serverFacts()
            let machine = MachineInfo.current(postgresVersion: server.version, postgresSettings: server.settings, database: databaseDescription)

            session.begin("post-to-visible latency, \(configuration.latencySamples) samples")
            let postToVisible = try await session.measurePostToVisible()

            var throughput: [BenchReport.ThroughputResult] = []
            for layout in [BenchSession.Layout.hot, .spread] {
                for writers in configuration.writerCounts {
                    let place = layout == .hot ? "one hot thread" : "\(configuration.spreadThreads) threads"
                    session.begin("posts/s, \(writers) writer\(writers == 1 ? "" : "s"), \(place), service and raw PostgreSQL (a, b, c)")
                    let results = try await session.measureThroughputSet(writers: writers, layout: layout)
                    let statement = results[.baseline(.statement)]?.postsPerSecond ?? 0
                    let minimal = results[.baseline(.minimalAppend)]?.postsPerSecond ?? 0
                    var figures: [String: BenchReport.PostsFigure] = [:]
                    for (poster, result) in results {
                        figures[poster.label] = .init(result, statement: statement, minimalAppend: minimal)
                    }
                    throughput.append(.init(writers: writers, layout: layout.rawValue, figures: figures))
                }
            }

            var mcpThroughput: [BenchReport.MCPThroughputResult] = []
            let catalogFolder = try session.unthrottledCatalogFolder()
            defer { try? FileManager.default.removeItem(atPath: catalogFolder) }
            for layout in [BenchSession.Layout.hot, .spread] {
                for processes in configuration.mcpProcessCounts {
                    let place = layout == .hot ? "one hot thread" : "\(configuration.spreadThreads) threads"
                    session.begin("MCP posts/s, \(processes) serve process\(processes == 1 ? "" : "es"), \(place)")
                    mcpThroughput.append(
                        try await session.measureMCPThroughput(processes: processes, layout: layout, catalogDirectory: catalogFolder)
                    )
                }
            }

            session.begin("read latency, \(configuration.latencySamples) samples")
            let readLatency = try await session.measureReadLatency()

            session.begin("message-to-wake-trigger latency, \(configuration.wakeSamples) samples")
            let wake = try await session.measureWakeTrigger()

            session.begin("serve start to initialize reply, \(configuration.serveSamples) processes")
            let serve = try await session.measureServeInitialize()

            session.begin("wire: one serve, raw JSON-RPC client, \(configuration.wireSamples) reads")
            let wire = try await session.measureWire()

            session.begin("inbox: \(configuration.inboxThreads) threads of \(BenchSession.inboxMessagesPerThread) messages, one serve")
            let inbox = try await session.measureInbox()

            session.begin("memory: one serve idle, then after \(configuration.memoryCalls) posts and reads")
            let memory = try await session.measureMemory()

            session.begin("gapless-seq check")
            let gapless = try await session.checkGaplessSeqs()

            var report = BenchReport(
                startedAt: startedAt,
                elapsedSeconds: clock.duration(to: .now).milliseconds / 1000,
                settings: .init(
                    quick: configuration.quick,
                    stepSeconds: configuration.stepDuration.milliseconds / 1000,
                    latencySamples: configuration.latencySamples,
                    wakeSamples: configuration.wakeSamples,
                    serveSamples: configuration.serveSamples,
                    wireSamples: configuration.wireSamples,
                    inboxThreads: configuration.inboxThreads,
                    memoryCalls: configuration.memoryCalls,
                    writerCounts: configuration.writerCounts,
                    spreadThreads: configuration.spreadThreads
                ),
                machine: machine,
                postToVisible: postToVisible,
                wakeTrigger: wake,
                readLatency: readLatency,
                throughput: throughput,
                mcpThroughput: mcpThroughput,
                serveInitialize: serve,
                wire: wire,
                inbox: inbox,
                memory: memory,
                errors: session.tally.counts,
                gaplessSeq: gapless,
                serviceLevels: []
            )
            report.serviceLevels = Self.serviceLevels(report, tally: session.tally)
            return report
        }
    }

    /// Each service-level target next to what was measured.
    static func serviceLevels(_ report: BenchReport, tally: ErrorTally) -> [BenchReport.ServiceLevel] {
        func milliseconds(_ value: Double) -> String { String(format: "%.1f ms", value) }
        func rate(_ kind: ErrorTally.Kind) -> (text: String, pass: Bool) {
            let calls = tally.calls(kind)
            let failures = tally.failures(kind)
            let percent = calls > 0 ? 100 * Double(calls - failures) / Double(calls) : 0
            return (String(format: "%.3f%% of %d", percent, calls), calls > 0 && failures == 0)
        }
        let post = rate(.post)
        let read = rate(.read)
        let internalErrors = report.errors.byStep.values.compactMap { $0[BridgeError.Code.internal.rawValue] }.reduce(0, +)
        var levels: [BenchReport.ServiceLevel] = [
            .init(
                sli: "post success",
                measured: "\(post.text), \(internalErrors) internal",
                target: "100%, 0 internal errors",
                pass: post.pass && internalErrors == 0
            ),
            .init(sli: "read success", measured: read.text, target: "100%", pass: read.pass),
            .init(
                sli: "p95 post-to-visible (long-poll reader)",
                measured: milliseconds(report.postToVisible.p95Ms),
                target: "≤ 25 ms",
                pass: report.postToVisible.samples > 0 && report.postToVisible.p95Ms <= 25
            ),
            .init(
                sli: "p95 message-to-wake-trigger",
                measured: milliseconds(report.wakeTrigger.clientObserved.p95Ms),
                target: "≤ 250 ms",
                pass: report.wakeTrigger.clientObserved.samples > 0 && report.wakeTrigger.clientObserved.p95Ms <= 250
            ),
        ]
        let most = report.throughput.map(\.writers).max()
        for step in report.throughput where step.writers == most {
            let service = step.figures[BenchSession.Poster.service.label]
            let statement = step.figures[PostBaseline.statement.rawValue]
            levels.append(
                .init(
                    sli: "posts/s, \(step.writers) writers, \(step.layout)",
                    measured: String(
                        format: "%.0f%% of (b) (%.0f / %.0f)",
                        (service?.vsStatement ?? 0) * 100,
                        service?.postsPerSecond ?? 0,
                        statement?.postsPerSecond ?? 0
                    ),
                    target: "≥ 80% of (b), the post statement without notify",
                    pass: (service?.vsStatement ?? 0) >= 0.8
                )
            )
        }
        levels.append(
            .init(
                sli: "p95 serve start to initialize reply",
                measured: milliseconds(report.serveInitialize.p95Ms),
                target: "≤ 150 ms",
                pass: report.serveInitialize.samples > 0 && report.serveInitialize.p95Ms <= 150
            )
        )
        let wire = report.wire
        levels.append(
            .init(
                sli: "p50 server-side read of 50 (serve log)",
                measured: String(format: "%.2f ms", wire.read.serverSide.p50Ms),
                target: "≤ 1.5 ms",
                pass: wire.read.serverSide.samples > 0 && wire.read.serverSide.p50Ms <= 1.5
            )
        )
        levels.append(
            .init(
                sli: "p50 server-side post (serve log)",
                measured: String(format: "%.2f ms", wire.post.serverSide.p50Ms),
                target: "≤ 1 ms",
                pass: wire.post.serverSide.samples > 0 && wire.post.serverSide.p50Ms <= 1
            )
        )
        levels.append(
            .init(
                sli: "serve CPU per read ÷ PostgreSQL page time",
                measured: String(format: "%.1f× (%.2f / %.2f ms)", wire.cpuPerReadToPageQuery, wire.serveCpuPerReadMs, wire.postgresPageQuery.p50Ms),
                target: "≤ 5×",
                pass: wire.cpuPerReadToPageQuery > 0 && wire.cpuPerReadToPageQuery <= 5
            )
        )
        let inbox = report.inbox
        levels.append(
            .init(
                sli: "p50 server-side inbox, \(inbox.messages) messages in \(inbox.threads) threads (serve log)",
                measured: String(format: "%.2f ms", inbox.serverSide.p50Ms),
                target: "≤ 1 ms",
                pass: inbox.serverSide.samples > 0 && inbox.serverSide.p50Ms <= 1
            )
        )
        let memory = report.memory
        func mebibytes(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
        levels.append(
            .init(
                sli: "serve RssAnon, idle",
                measured: "\(mebibytes(memory.idle.rssAnonKib)) (RssFile \(mebibytes(memory.idle.rssFileKib)))",
                target: "≤ 10 MiB",
                pass: memory.idle.rssAnonKib > 0 && memory.idle.rssAnonKib <= 10 * 1024
            )
        )
        levels.append(
            .init(
                sli: "serve RssAnon, after \(memory.posts) posts and \(memory.reads) reads",
                measured: "\(mebibytes(memory.afterLoad.rssAnonKib)) (RssFile \(mebibytes(memory.afterLoad.rssFileKib)))",
                target: "≤ 20 MiB",
                pass: memory.afterLoad.rssAnonKib > 0 && memory.afterLoad.rssAnonKib <= 20 * 1024
            )
        )
        levels.append(
            .init(
                sli: "gapless seqs",
                measured: "\(report.gaplessSeq.violatingThreads) of \(report.gaplessSeq.threads) threads with a gap",
                target: "none",
                pass: report.gaplessSeq.pass
            )
        )
        return levels
    }
}
