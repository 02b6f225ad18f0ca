import BridgeCore
import BridgeDrills
import BridgeService
import BridgeStore
import BridgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// The runbooks and their drills (ARCHITECTURE.md, Runbooks and drills): every drill passes against a real database, every page's signals
/// are proven by its drills, a page naming a signal the code never emits fails, and a recorded thread replays
/// to the same supervisor decisions every time.
@Suite("Drills", .serialized)
struct DrillTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let runbooks = repository.appendingPathComponent("runbooks").path

    /// The incident classes, one runbook page each.
    static let incidentPages = [
        "service-unavailable.md", "storage-lock-contention.md", "message-delivery-delay.md", "authorization-misconfiguration.md",
        "token-validation-failure.md", "escalation-flood.md", "wake-trigger-failure.md", "unmanaged-runtime-target.md",
        "human-input-collision.md",
    ]

    static func quietLogger() -> Logger {
        var logger = Logger(label: "drill-tests")
        logger.logLevel = .warning
        return logger
    }

    @Test("agent-bridge drill --all passes every drill, through the real binary")
    func everyDrillPasses() async throws {
        let database = try await TestDatabase.create(logger: Self.quietLogger())
        let library = DrillLibrary(runbooksDirectory: Self.runbooks)
        let names = try library.names()
        #expect(names.count >= 10)

        let process = Process()
        process.executableURL = TestDatabase.executableURL
        process.arguments = ["drill", "--all", "--json", "--runbooks", Self.runbooks, "--database-url", database.url]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read while it runs, so a full pipe cannot stall it.
        async let outputData = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
        async let errorData = Task.detached { errors.fileHandleForReading.readDataToEndOfFile() }.value
        let (stdout, stderr) = await (outputData, errorData)
        process.waitUntilExit()

        let reports = try JSONSerialization.jsonObject(with: stdout) as? [[String: Any]] ?? []
        let failures = reports.filter { $0["passed"] as? Bool != true }.map { report in
            let failed = (report["checks"] as? [[String: Any]] ?? []).filter { $0["passed"] as? Bool != true }
            return "\(report["name"] ?? "?"): " + failed.map { "\($0["description"] ?? "") \($0["detail"] ?? "")" }.joined(separator: "; ")
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(String(decoding: stderr, as: UTF8.self).suffix(2000))")
        #expect(reports.count == names.count)
        #expect(process.terminationStatus == 0)
    }

    @Test("every incident class has a page, and every signal a page names is checked by one of its drills")
    func pagesAndDrillsAgree() throws {
        let library = DrillLibrary(runbooksDirectory: Self.runbooks)
        #expect(try library.pages() == Self.incidentPages.sorted())
        var proven: [String: Set<String>] = [:]
        for name in try library.names() {
            let scenario = try library.load(name)
            let page = try RunbookPage.load(directory: Self.runbooks, file: scenario.runbook)
            let checked = scenario.expect.signals ?? page.signals.map(\.text)
            for signal in checked {
                #expect(page.signals.contains { $0.text == signal }, "\(name) checks `\(signal)`, which \(scenario.runbook) does not list")
            }
            proven[scenario.runbook, default: []].formUnion(checked)
        }
        for file in Self.incidentPages {
            let page = try RunbookPage.load(directory: Self.runbooks, file: file)
            let unproven = page.signals.map(\.text).filter { !(proven[file]?.contains($0) ?? false) }
            #expect(unproven.isEmpty, "\(file) names signals no drill checks: \(unproven)")
        }
    }

    @Test("a page that names a signal the code never emits fails its drill")
    func unknownSignalFails() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("runbooks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("drills"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var page = try String(contentsOfFile: "\(Self.runbooks)/wake-trigger-failure.md", encoding: .utf8)
        page = page.replacingOccurrences(
            of: "## Signals\n\n",
            with: "## Signals\n\n- `wake.exploded` — not an event the supervisor has.\n- `WAKE_EXPLODED` — nor a reason.\n\n"
        )
        try page.write(to: folder.appendingPathComponent("wake-trigger-failure.md"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: "\(Self.runbooks)/drills/wake-target-fails.yaml",
            toPath: folder.appendingPathComponent("drills/wake-target-fails.yaml").path
        )

        let report = try await Self.runner(runbooks: folder.path).run(DrillLibrary(runbooksDirectory: folder.path).load("wake-target-fails"))
        #expect(!report.passed)
        let failed = report.checks.filter { !$0.passed }.map(\.description)
        #expect(failed.contains("`wake.exploded`"))
        #expect(failed.contains("`WAKE_EXPLODED`"))
        #expect(report.checks.filter { $0.kind == "signal" && $0.passed }.count >= 4)
    }

    @Test("drill record turns a real thread into a scenario that replays to the same decisions twice")
    func recordedThreadReplaysDeterministically() async throws {
        let logger = Self.quietLogger()
        // The "real" thread: a wake that fails until it is dead, made by the real supervisor on a kept database.
        let library = DrillLibrary(runbooksDirectory: Self.runbooks)
        var incident = try library.load("wake-target-fails")
        incident.steps = Array(incident.steps.prefix(1))
        incident.expect = .init(signals: [], wakes: ["executioner": ["dead"]], threads: nil)
        let original = try await Self.runner(keepDatabase: true).run(incident)
        #expect(original.passed, "\(original.text())")
        let url = try #require(original.keptDatabaseURL)
        let threadID = try #require(original.threadIDs["fix"])

        let store = PostgresStore(configuration: .init(endpoint: try DatabaseEndpoint(url: url)), logger: logger)
        let catalog = try CatalogLoader.load(directory: nil)
        let recorder = DrillRecorder(store: store, workspace: "local", timings: catalog.timings, logger: logger)
        let recorded = try await store.withRunningPool { try await recorder.record(threadID: threadID, runbook: "wake-trigger-failure.md") }
        await Self.drop(url: url, logger: logger)

        // The file round-trips through YAML, as `drill record > file` and `drill file` would.
        let scenario = try DrillScenario.parse(try recorded.yaml(), name: recorded.name)
        #expect(scenario.participants.first { $0.handle == "executioner" }?.outcomes == ["fail", "fail", "fail", "fail", "fail"])
        #expect(scenario.steps.count == 1)
        #expect(scenario.timings?["trigger_ack_timeout"] == "8s")

        let first = try await Self.runner().run(scenario)
        let second = try await Self.runner().run(scenario)
        #expect(first.passed && second.passed)
        #expect(!first.decisions.isEmpty)
        #expect(first.decisions == second.decisions)
        // The recorder names the thread `main`; the incident called it `fix`.
        #expect(first.decisions == original.decisions.map { $0.replacingOccurrences(of: " in fix", with: " in main") })
        #expect(first.decisions.contains { $0.hasPrefix("wake.dead participant:executioner") })
    }

    static func runner(runbooks: String = runbooks, keepDatabase: Bool = false) async throws -> DrillRunner {
        let database = try await TestDatabase.create(logger: quietLogger())
        var configuration = DrillRunner.Configuration(
            server: database.endpoint,
            catalog: try CatalogLoader.load(directory: nil),
            runbooksDirectory: runbooks,
            probes: .standard
        )
        configuration.keepDatabase = keepDatabase
        return DrillRunner(configuration: configuration, logger: quietLogger())
    }

    static func drop(url: String, logger: Logger) async {
        guard let endpoint = try? DatabaseEndpoint(url: url) else { return }
        let admin = PostgresStore(configuration: .init(endpoint: endpoint.with(database: "postgres")), logger: logger)
        _ = try? await admin.withRunningPool {
            try await admin.client.query(.init(unsafeSQL: "DROP DATABASE IF EXISTS \(endpoint.database) WITH (FORCE)"), logger: logger)
        }
    }
}
