import BridgeCore
import BridgeStore
import Foundation
import Subprocess
import SystemPackage

/// One runtime process started to wake a participant: run without a shell, in the participant's workdir,
/// with a timeout, its output captured to files and kept only as a bounded tail.
///
/// With a session id source, the output is read as it grows and the first id found is handed over while the
/// process still runs (a first turn can take many minutes; recording the id at once lets a later wake resume
/// it even if this supervisor dies meanwhile).
struct WakeProcess: Sendable {
    /// How the process ended.
    struct Result: Sendable {
        var outcome: WakeAttempt.Outcome
        var exitCode: Int?
        var sessionID: String?
        var outputTail: String
    }

    var argv: [String]
    var environment: [String: String]
    var workdir: String
    var timeout: Duration
    var sessionIDSource: RuntimeCatalog.SessionIDSource?
    var outputTailBytes: Int
    /// Where output files live while the process runs.
    var scratchDirectory: String

    /// How often the output file is looked at for a session id while the process runs.
    static let sessionIDPollInterval = Duration.milliseconds(50)

    /// Runs the process until it exits, `timeout` passes, or `stop` fires (then it is terminated, its
    /// process group first with SIGTERM, then SIGKILL). `sessionFound` is called, at most once and while the
    /// process runs, with the first session id its output names; the result carries the id either way.
    func run(stop: AutoResetSignal, sessionFound: @escaping @Sendable (String) async -> Void = { _ in }) async -> Result {
        guard let program = argv.first, !program.isEmpty else {
            return Result(
                outcome: .notStarted,
                exitCode: nil,
                sessionID: nil,
                outputTail: "No command is configured for this runtime in runtimes.yaml."
            )
        }
        guard let executable = Self.locate(program, path: environment["PATH"] ?? "") else {
            return Result(outcome: .notStarted, exitCode: nil, sessionID: nil, outputTail: "\(program): not found on PATH.")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: workdir, isDirectory: &isDirectory), isDirectory.boolValue else {
            return Result(outcome: .notStarted, exitCode: nil, sessionID: nil, outputTail: "workdir \(workdir) does not exist.")
        }
        try? FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        let base = "\(scratchDirectory)/wake-\(UUID().wireString)"
        let stdoutPath = "\(base).out"
        let stderrPath = "\(base).err"
        defer {
            unlink(stdoutPath)
            unlink(stderrPath)
        }
        let stdoutFile: FileDescriptor
        let stderrFile: FileDescriptor
        do {
            stdoutFile = try FileDescriptor.open(
                FilePath(stdoutPath),
                .readWrite,
                options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite]
            )
            stderrFile = try FileDescriptor.open(
                FilePath(stderrPath),
                .readWrite,
                options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite]
            )
        } catch {
            return Result(outcome: .notStarted, exitCode: nil, sessionID: nil, outputTail: "Cannot create output files in \(scratchDirectory).")
        }
        defer {
            try? stdoutFile.close()
            try? stderrFile.close()
        }

        var options = PlatformOptions()
        // Its own session and process group, so stopping it stops whatever it started too.
        options.createSession = true
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(3))]
        var variables: [Environment.Key: String] = [:]
        for (name, value) in environment {
            if let key = Environment.Key(rawValue: name) { variables[key] = value }
        }
        let configuration = Configuration(
            executable: .path(FilePath(executable)),
            arguments: Arguments(Array(argv.dropFirst())),
            environment: .custom(variables),
            workingDirectory: FilePath(workdir),
            platformOptions: options
        )

        let processEnded = AutoResetSignal()
        let ending = await withTaskGroup(of: Void.self) { watchers -> Ending in
            if let sessionIDSource {
                // In a group of its own: the process's group is cancelled when the process ends, and that
                // must not cut short a recording already under way.
                watchers.addTask {
                    await Self.watch(stdoutPath, for: sessionIDSource, until: processEnded, found: sessionFound)
                }
            }
            let ending = await runUntilEnded(configuration, program: program, stdout: stdoutFile, stderr: stderrFile, stop: stop)
            processEnded.fire()
            await watchers.waitForAll()
            return ending
        }

        let output = Self.read(stdoutPath, limit: 4 << 20)
        let errors = Self.read(stderrPath, limit: 1 << 20)
        var combined = output
        if !errors.isEmpty { combined += (combined.isEmpty || combined.hasSuffix("\n") ? "" : "\n") + errors }
        let tail = String(decoding: Array(combined.utf8.suffix(outputTailBytes)), as: UTF8.self)
        let sessionID = sessionIDSource?.find(in: output)
        switch ending {
        case .exited(let status):
            switch status {
            case .exited(let code):
                return Result(outcome: code == 0 ? .exited : .failed, exitCode: Int(code), sessionID: sessionID, outputTail: tail)
            case .signaled(let signal):
                return Result(outcome: .failed, exitCode: 128 + Int(signal), sessionID: sessionID, outputTail: tail)
            }
        case .failedToStart(let why):
            return Result(outcome: .notStarted, exitCode: nil, sessionID: nil, outputTail: why)
        case .stopped:
            return Result(outcome: .stopped, exitCode: nil, sessionID: sessionID, outputTail: tail)
        }
    }

    /// How the process ended.
    private enum Ending: Sendable {
        case exited(TerminationStatus)
        case failedToStart(String)
        case stopped
    }

    /// Runs the process until it exits, `timeout` passes, or `stop` fires.
    private func runUntilEnded(
        _ configuration: Configuration,
        program: String,
        stdout: FileDescriptor,
        stderr: FileDescriptor,
        stop: AutoResetSignal
    ) async -> Ending {
        await withTaskGroup(of: Ending?.self) { group -> Ending in
            group.addTask {
                do {
                    let result = try await Subprocess.run(
                        configuration,
                        input: .none,
                        output: .fileDescriptor(stdout, closeAfterSpawningProcess: false),
                        error: .fileDescriptor(stderr, closeAfterSpawningProcess: false)
                    )
                    return .exited(result.terminationStatus)
                } catch {
                    return Task.isCancelled ? .stopped : .failedToStart("\(program) could not be started: \(error)")
                }
            }
            group.addTask {
                _ = await stop.wait(timeout: timeout)
                return Task.isCancelled ? nil : .stopped
            }
            var ending: Ending = .stopped
            while let next = await group.next() {
                if let next {
                    ending = next
                    break
                }
            }
            group.cancelAll()
            // Wait for the process task's teardown before reading its output.
            while await group.next() != nil {}
            return ending
        }
    }

    /// Reads `path` as the process appends to it, until `source` finds a session id (handed to `found`), the
    /// scan gives up, or `ended` fires. The output goes to a file rather than a pipe so that a child the agent
    /// leaves behind, holding the pipe open, can never keep the wake from ending; so the file is polled.
    private static func watch(
        _ path: String,
        for source: RuntimeCatalog.SessionIDSource,
        until ended: AutoResetSignal,
        found: @Sendable (String) async -> Void
    ) async {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        var scanner = SessionIDScanner(source: source)
        while scanner.isLooking && !Task.isCancelled {
            if let chunk = try? handle.readToEnd(), let id = scanner.feed(chunk) {
                await found(id)
                return
            }
            if await ended.wait(timeout: sessionIDPollInterval) { return }
        }
    }

    /// A program path: as given when it contains a slash, else the first executable match on `path`.
    static func locate(_ program: String, path: String) -> String? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? program : nil
        }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func read(_ path: String, limit: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: limit)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
