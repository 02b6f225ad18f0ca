import ArgumentParser
import BridgeCore
import BridgeDrills
import BridgeService
import BridgeStore
import Foundation
import Logging

/// `agent-bridge drill`: replays incident scenarios and checks that their runbook's signals fire (ARCHITECTURE.md, Runbooks and drills).
struct Drill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay an incident from runbooks/drills on a scratch database and check that its runbook's signals fire.",
        discussion: """
            Each drill file (runbooks/drills/NAME.yaml) is a timed sequence of events — posts, heartbeats, human \
            input, runtime outcomes, a stopped database, a held lock, a bad token — replayed against a throw-away \
            database with the real store, tool router and supervisor, under a virtual clock: ten minutes of \
            incident take seconds. It then checks every signal the runbook page lists under "## Signals" \
            (metrics, /ready, log events, reason codes) and the end state the file expects (wake outcomes, thread \
            status, gapless seqs, every accepted post stored, no INTERNAL errors).

            Examples:
              agent-bridge drill wake-trigger-failure        # one drill, with a readable report
              agent-bridge drill --all                       # every drill; exit 1 if any check fails
              agent-bridge drill record --thread-id ID > runbooks/drills/incident-42.yaml

            Scratch databases are created on the embedded cluster (or DATABASE_URL's server) and dropped afterwards.
            Exit status: 0 all checks passed, 1 a check failed, 2 a drill could not run.
            """,
        subcommands: [Run.self, Record.self],
        defaultSubcommand: Run.self
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Replay drills (the default: `drill NAME` is `drill run NAME`)."
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var runbooks: RunbooksOptions

        @Argument(help: "The drill to replay (a file name under runbooks/drills, without .yaml).")
        var name: String?

        @Flag(help: "Replay every drill.")
        var all = false

        @Flag(help: "List the drills and the page each proves.")
        var list = false

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Flag(help: "Also list the supervisor's decisions in the report.")
        var decisions = false

        @Flag(help: "Also write every log line of the replay to stderr.")
        var verbose = false

        @Flag(help: "Keep the scratch database afterwards and print its URL (drop it yourself).")
        var keep = false

        func validate() throws {
            if !list && (name == nil) == !all { throw ValidationError("Name one drill, or pass --all (or --list).") }
        }

        func run() async throws {
            let logger = database.bootstrapLogging(defaultLevel: .warning)
            let library = DrillLibrary(runbooksDirectory: runbooks.resolved)
            var anyFailed = false
            do throws(DrillError) {
                let names = all || list ? try library.names() : [name!]
                if list {
                    for name in names {
                        let scenario = try library.load(name)
                        print("\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) runbooks/\(scenario.runbook)  \(scenario.summary)")
                    }
                    return
                }
                let scenarios = try names.map { (name) throws(DrillError) in try library.load(name) }
                let runner = try await makeRunner(logger: logger)
                var reports: [DrillReport] = []
                for scenario in scenarios {
                    FileHandle.standardError.write(Data("drill \(scenario.name)…\n".utf8))
                    let report = try await runner.run(scenario)
                    reports.append(report)
                    if !json { print(report.text(showDecisions: decisions) + "\n") }
                }
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    let data = try? encoder.encode(all ? AnyReports.many(reports) : AnyReports.one(reports[0]))
                    print(String(decoding: data ?? Data(), as: UTF8.self))
                } else if reports.count > 1 {
                    let failed = reports.filter { !$0.passed }
                    print(
                        failed.isEmpty
                            ? "All \(reports.count) drills passed."
                            : "\(failed.count) of \(reports.count) drills failed: \(failed.map(\.name).joined(separator: ", "))"
                    )
                }
                anyFailed = reports.contains { !$0.passed }
            } catch {
                exitWithError(error.description, code: 2)
            }
            if anyFailed { throw ExitCode(1) }
        }

        func makeRunner(logger: Logger) async throws(DrillError) -> DrillRunner {
            let policyCatalog = catalog.loadOrExit()
            do throws(BridgeError) {
                let setup = try DatabaseSetup(options: database, logger: logger)
                try await setup.startClusterIfNeeded()
                var configuration = DrillRunner.Configuration(
                    server: setup.endpoint,
                    catalog: policyCatalog,
                    runbooksDirectory: runbooks.resolved,
                    probes: .standard
                )
                if verbose { configuration.forwardLogs = logger }
                configuration.keepDatabase = keep
                return DrillRunner(configuration: configuration, logger: logger)
            } catch {
                throw DrillError("the database for scratch copies is not available: \(error.message)")
            }
        }
    }

    /// One report or several, as JSON.
    enum AnyReports: Encodable {
        case one(DrillReport)
        case many([DrillReport])

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .one(let report): try report.encode(to: encoder)
            case .many(let reports): try reports.encode(to: encoder)
            }
        }
    }

    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a real thread's history as a drill file, to replay an incident seen in production.",
            discussion: """
                The file holds the thread's members with their runtimes, its messages at their offsets in time, \
                each wake's attempts as scripted runtime outcomes, approval tickets, and every timing of the \
                catalog in force. Replaying it gives the same supervisor decisions every time. Edit its \
                `runbook` line to the page the incident belongs to.

                  agent-bridge drill record --thread-id ID > runbooks/drills/incident-42.yaml
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var catalog: CatalogOptions

        @Option(name: .customLong("thread-id"), help: "The thread to record.")
        var threadID: String

        @Option(help: "The workspace the thread is in. Default: $AGENT_BRIDGE_WORKSPACE, else local.")
        var workspace: String?

        @Option(help: "The runbook page to name in the file.")
        var runbook = "wake-trigger-failure.md"

        @Option(name: .shortAndLong, help: "Write the file here instead of stdout.")
        var output: String?

        func run() async throws {
            let logger = database.bootstrapLogging(defaultLevel: .warning)
            guard let id = UUID(uuidString: threadID) else { throw ValidationError("--thread-id \(threadID) is not a UUID.") }
            let policyCatalog = catalog.loadOrExit()
            let text: String
            do {
                let setup = try DatabaseSetup(options: database, logger: logger)
                try await setup.startClusterIfNeeded()
                let store = PostgresStore(configuration: .init(endpoint: setup.endpoint), logger: logger)
                let recorder = DrillRecorder(store: store, workspace: resolveWorkspace(workspace), timings: policyCatalog.timings, logger: logger)
                let scenario = try await store.withRunningPool { try await recorder.record(threadID: id, runbook: runbook) }
                text = try scenario.yaml()
            } catch let error as BridgeError {
                exitWithError(error.message, code: error.code == .notFound ? 4 : 3)
            } catch {
                exitWithError("\(error)", code: 3)
            }
            if let output {
                do {
                    try text.write(toFile: output, atomically: true, encoding: .utf8)
                } catch {
                    exitWithError("cannot write \(output): \(error.localizedDescription)")
                }
            } else {
                print(text, terminator: "")
            }
        }
    }
}

/// Where the runbook pages and drill files are.
struct RunbooksOptions: ParsableArguments {
    @Option(
        name: .customLong("runbooks"),
        help: ArgumentHelp(
            "The runbooks folder (pages, and drills/ beneath). Default: $AGENT_BRIDGE_RUNBOOKS, else ./runbooks.",
            valueName: "dir"
        )
    )
    var directory: String?

    var resolved: String {
        directory ?? environmentValue("AGENT_BRIDGE_RUNBOOKS") ?? "runbooks"
    }
}
