import ArgumentParser
import BridgeBench
import BridgeCore
import BridgeStore
import Foundation
import Logging

/// `agent-bridge bench`: the service-level benchmark. Wiring and presentation; the work is in BridgeBench.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the service levels (README, Service levels) on this machine against a scratch database.",
        discussion: """
            The bench creates a throw-away database (agent_bridge_scratch_bench_…) on the server of the embedded
            cluster, or of --database-url / $DATABASE_URL, and drops it at the end, also after a failure or Ctrl-C.
            Your own databases are not touched. The post rate limit of the catalog is switched off for the run.

            What it measures, in order:
              post-to-visible     a writer posts through the service; a reader on its own connections long-polls
                                  read (wait_seconds, as v1_message_read does); time until the reader has the seq
              posts/s             1, 8 and 32 concurrent writers (distinct participants), all on one hot thread,
                                  then spread over 64 threads; each step through the service and as three raw
                                  PostgreSQL baselines sent straight over PostgresNIO: (a) a minimal append (the
                                  seq bump and the message row, one statement), (b) the store's post statement
                                  without pg_notify, (c) the same with pg_notify in it; in halves ordered service,
                                  a, b, c, c, b, a, service so drift weighs on all; each figure ÷ (b) and ÷ (a)
              MCP posts/s         1, 4 and 16 real `agent-bridge serve` children (distinct participants, no post
                                  rate limit), each a JSON-RPC client posting over its stdio, on the same threads,
                                  in halves MCP, b, a, a, b, MCP with as many bench writers for (a) and (b)
              read latency        non-waiting reads of the latest 50 messages of the hot thread
              wake trigger        an in-process supervisor (leader lock, LISTEN) wakes dormant managed
                                  participants whose runtime is /bin/true; time from the post until the wake
                                  attempt is recorded
              serve start         a fresh `agent-bridge serve` process: time from spawn to its initialize reply
              wire                one `agent-bridge serve --log-level info` child, spoken to as a raw JSON-RPC
                                  client, one request at a time: v1_message_post calls, then non-waiting
                                  v1_message_read calls of the latest 50 messages; each timed at the client
                                  (request line written to reply line read) and by serve's tool.call log line
                                  (duration_ms); serve's CPU time per read (/proc/PID/stat) against the same page
                                  query sent straight over PostgresNIO
              inbox               a reader who is a member of 500 threads of 20 messages each (10,000; 50 threads
                                  with --quick), none read: non-waiting v1_inbox calls through one serve child,
                                  client and tool.call timings, and the store's inbox statement sent alone
              memory              one serve child's RssAnon and RssFile (/proc/PID/status) idle after initialize,
                                  and after 10,000 posts and as many reads (500 with --quick)
              gapless seqs        every thread's seqs are 1..n with no gap or duplicate

            Output: a table on stdout (or the JSON with --json), the JSON report in --output, and a one-line
            progress indicator on stderr. Each service-level target is shown next to its figure with pass or MISS.
            A full run takes about two minutes; --quick (CI size) about 30 seconds. Timings of a debug build are
            not representative: measure with `swift build -c release`.

            Exit status: 0 when every call succeeded and seqs are gapless (missed timing targets do not fail
            the run, as they depend on the machine); 2 when there were errors or a seq gap; 1 when the bench
            could not run.

            Examples:
              agent-bridge bench --quick
              agent-bridge bench --duration 5 --samples 500 --output /tmp/bench.json
              agent-bridge bench --database-url postgres://me@db.internal/agent_bridge --json > report.json
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    @Flag(help: "CI size: 0.6 s per poster of each posts/s step, 40 latency samples, 8 wake samples, 3 serve starts, 50 wire reads.")
    var quick = false

    @Option(
        help: ArgumentHelp(
            "Seconds each poster (the service, each baseline, the serve children) posts in each posts/s step. Default: 3, or 0.6 with --quick.",
            valueName: "seconds"
        )
    )
    var duration: Double?

    @Option(
        help: ArgumentHelp(
            "Latency samples (post-to-visible, read); wake samples are a fifth, serve starts a twentieth (at least 3); wire reads as many (at most 500). Default: 200, or 40 with --quick (50 wire reads).",
            valueName: "n"
        )
    )
    var samples: Int?

    @Option(help: ArgumentHelp("Where the JSON report is written.", valueName: "path"))
    var output = "bench-report.json"

    @Flag(help: "Print the JSON report on stdout instead of the table.")
    var json = false

    func validate() throws {
        if let duration, !(duration > 0 && duration <= 600) { throw ValidationError("--duration must be between 0 and 600 seconds.") }
        if let samples, !(1...100_000).contains(samples) { throw ValidationError("--samples must be between 1 and 100000.") }
    }

    func run() async throws {
        let logger = database.bootstrapLogging(defaultLevel: .warning)
        var configuration = Benchmark.Configuration(quick: quick, catalog: catalog.loadOrExit(), executablePath: Self.executablePath())
        configuration.catalogDirectory = catalog.resolvedDirectory
        if let duration { configuration.stepDuration = .milliseconds(Int64(duration * 1000)) }
        if let samples { configuration.scaleSamples(to: samples) }
        let progress = ProgressLine()
        configuration.progress = { progress.show("[\($0.step)/\($0.total)] \($0.label)…") }

        let setup: DatabaseSetup
        do {
            setup = try DatabaseSetup(options: database, logger: logger)
            // Not just "if needed": a stale pid file after a reboot looks like a running cluster.
            try await setup.cluster?.ensureRunning()
        } catch {
            exitWithError(error.message, code: 1)
        }
        let description = setup.cluster == nil ? setup.endpoint.redacted : "embedded cluster (\(setup.endpoint.redacted))"
        let benchmark = Benchmark(configuration: configuration, logger: logger)
        // Ctrl-C and SIGTERM cancel the run, which then drops its scratch database before exiting.
        let run = Task { try await benchmark.run(on: setup.endpoint, databaseDescription: description) }
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { run.cancel() }
            source.resume()
            return source
        }
        defer { for signal in signals { signal.cancel() } }

        let report: BenchReport
        do {
            report = try await run.value
            progress.finish()
        } catch is CancellationError {
            progress.finish()
            exitWithError("interrupted; the scratch database was dropped.", code: 130)
        } catch {
            progress.finish()
            exitWithError("the bench could not run: \((error as? BridgeError)?.message ?? String(describing: error))", code: 1)
        }

        let data = try report.json()
        do {
            try data.write(to: URL(fileURLWithPath: output))
        } catch {
            exitWithError("cannot write the report to \(output): \(error.localizedDescription)")
        }
        if json {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            print(Self.render(report))
            print("\nReport: \(output)")
        }
        if report.errors.total > 0 || !report.gaplessSeq.pass { throw ExitCode(2) }
    }

    /// This binary, for timing its `serve`.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    static func render(_ report: BenchReport) -> String {
        func ms(_ value: Double) -> String { String(format: "%.1f", value) }
        var lines = [
            "agent-bridge bench — \(report.machine.summary)",
            "database: \(report.machine.database) (\(report.machine.postgresSettings)); \(String(format: "%.0f", report.elapsedSeconds)) s\(report.settings.quick ? ", quick" : "")",
            "",
        ]

        var latency = TextTable("latency (ms)", "samples", "p50", "p95", "p99", "max")
        func add(_ name: String, _ summary: LatencySummary) {
            latency.add(name, "\(summary.samples)", ms(summary.p50Ms), ms(summary.p95Ms), ms(summary.p99Ms), ms(summary.maxMs))
        }
        add("post-to-visible (long-poll reader)", report.postToVisible)
        add("message-to-wake-trigger", report.wakeTrigger.clientObserved)
        add("  (database stamps)", report.wakeTrigger.databaseStamps)
        add("read, latest page", report.readLatency)
        add("serve start to initialize reply", report.serveInitialize)
        lines.append(latency.render())
        lines.append("")

        lines.append(renderWire(report.wire))
        lines.append("")
        lines.append(renderInboxAndMemory(report))
        lines.append("")

        lines.append(renderThroughput(report))
        lines.append("")

        var levels = TextTable("service level", "measured", "target", "result")
        for level in report.serviceLevels {
            levels.add(level.sli, level.measured, level.target, level.pass ? "pass" : "MISS")
        }
        lines.append(levels.render())
        if report.errors.total > 0 {
            lines.append("")
            lines.append("  errors:")
            for (step, codes) in report.errors.byStep.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(step): " + codes.sorted(by: { $0.key < $1.key }).map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension Bench {
    /// The posts/s blocks: the service and the baselines side by side, then MCP through serve processes; each
    /// figure with its ratio to (b) and to (a).
    static func renderThroughput(_ report: BenchReport) -> String {
        func place(_ layout: String) -> String { layout == "hot" ? "one hot thread" : "\(report.settings.spreadThreads) threads" }
        func rate(_ figure: BenchReport.PostsFigure?) -> String { figure.map { String(format: "%.0f", $0.postsPerSecond) } ?? "-" }
        func ratios(_ figure: BenchReport.PostsFigure?) -> String {
            figure.map { String(format: "%.2f / %.2f", $0.vsStatement, $0.vsMinimalAppend) } ?? "-"
        }
        var table = TextTable(
            "posts/s",
            "writers",
            "(a) minimal",
            "(b) statement",
            "(c) +notify",
            "service",
            "(c) ÷b/÷a",
            "service ÷b/÷a",
            "errors"
        )
        for step in report.throughput {
            let figures = step.figures
            table.add(
                place(step.layout),
                "\(step.writers)",
                rate(figures["minimal_append"]),
                rate(figures["statement"]),
                rate(figures["statement_with_notify"]),
                rate(figures["service"]),
                ratios(figures["statement_with_notify"]),
                ratios(figures["service"]),
                "\(figures.values.map(\.errors).reduce(0, +))"
            )
        }
        var mcp = TextTable("MCP posts/s (serve processes)", "processes", "(d) MCP", "(b) statement", "(a) minimal", "(d) ÷b/÷a", "errors")
        for step in report.mcpThroughput {
            let figures = step.figures
            mcp.add(
                place(step.layout),
                "\(step.processes)",
                rate(figures["mcp"]),
                rate(figures["statement"]),
                rate(figures["minimal_append"]),
                ratios(figures["mcp"]),
                "\(figures.values.map(\.errors).reduce(0, +))"
            )
        }
        return table.render() + "\n\n" + mcp.render()
    }

    /// The inbox block (client and serve side, PostgreSQL alone) and the memory line of serve.
    static func renderInboxAndMemory(_ report: BenchReport) -> String {
        let inbox = report.inbox
        var table = TextTable(
            "inbox of \(inbox.messagesPerCall), \(inbox.messages) messages in \(inbox.threads) threads (\(inbox.unread) unread; ms)",
            "samples",
            "p50",
            "p95",
            "p99",
            "max"
        )
        func add(_ label: String, _ summary: LatencySummary) {
            table.add(
                label,
                "\(summary.samples)",
                String(format: "%.2f", summary.p50Ms),
                String(format: "%.2f", summary.p95Ms),
                String(format: "%.2f", summary.p99Ms),
                String(format: "%.2f", summary.maxMs)
            )
        }
        add("v1_inbox, client round trip", inbox.roundTrip)
        add("v1_inbox, server side (tool.call log)", inbox.serverSide)
        add("PostgreSQL inbox query (raw)", inbox.postgresQuery)
        let memory = report.memory
        func mebibytes(_ kib: Int) -> String { String(format: "%.1f", Double(kib) / 1024) }
        return table.render()
            + "\n  serve memory (MiB): idle RssAnon \(mebibytes(memory.idle.rssAnonKib)), RssFile \(mebibytes(memory.idle.rssFileKib)); "
            + "after \(memory.posts) posts and \(memory.reads) reads RssAnon \(mebibytes(memory.afterLoad.rssAnonKib)), RssFile \(mebibytes(memory.afterLoad.rssFileKib))"
    }

    /// The wire block: each operation at the client and inside serve, then serve's CPU per read against PostgreSQL.
    static func renderWire(_ wire: BenchReport.WireResult) -> String {
        func ms(_ value: Double) -> String { String(format: "%.2f", value) }
        var table = TextTable("wire (raw JSON-RPC client, one serve; ms)", "samples", "p50", "p95", "p99", "max")
        func add(_ name: String, _ summary: LatencySummary) {
            table.add(name, "\(summary.samples)", ms(summary.p50Ms), ms(summary.p95Ms), ms(summary.p99Ms), ms(summary.maxMs))
        }
        add("post, client round trip", wire.post.roundTrip)
        add("post, server side (tool.call log)", wire.post.serverSide)
        add("read of \(wire.messagesPerRead), client round trip", wire.read.roundTrip)
        add("read of \(wire.messagesPerRead), server side (tool.call log)", wire.read.serverSide)
        add("PostgreSQL page query (raw)", wire.postgresPageQuery)
        return table.render() + "\n"
            + String(
                format: "  serve CPU per read %.2f ms (per post %.2f ms); ÷ PostgreSQL page p50 %.2f ms = %.1f×",
                wire.serveCpuPerReadMs,
                wire.serveCpuPerPostMs,
                wire.postgresPageQuery.p50Ms,
                wire.cpuPerReadToPageQuery
            )
    }
}

/// One progress line on stderr, rewritten in place on a terminal and printed line by line otherwise.
final class ProgressLine: Sendable {
    private let isTerminal = isatty(STDERR_FILENO) == 1

    func show(_ text: String) {
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K\(text)" : "\(text)\n").utf8))
    }

    /// Clears the line, so the table starts on a clean one.
    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
