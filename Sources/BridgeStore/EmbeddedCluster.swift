import BridgeCore
import Foundation
import Logging
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The private PostgreSQL cluster that every command uses when no `DATABASE_URL` is given (ARCHITECTURE.md, Processes).
///
/// It lives under the state directory, listens only on a Unix socket inside its data folder, is created
/// with `initdb` on first use and left running for the next process. When the caller is root the cluster
/// belongs to the `postgres` system user, because PostgreSQL refuses to run as root.
/// Concurrent starters serialise on a lock file: one creates and starts, the others wait and reuse it.
public struct EmbeddedCluster: Sendable {
    /// Where the cluster lives and which tools drive it.
    public struct Configuration: Sendable {
        /// The agent-bridge state folder; the cluster is `<stateDirectory>/pg`.
        public var stateDirectory: String
        /// The database agent-bridge uses inside the cluster.
        public var database: String = "agent_bridge"
        /// The cluster superuser agent-bridge connects as.
        public var username: String = "agent_bridge"

        public init(stateDirectory: String) {
            self.stateDirectory = stateDirectory
        }

        /// The state folder from the environment: `AGENT_BRIDGE_STATE_DIR`, else `/var/lib/agent-bridge`
        /// for root, else `$XDG_STATE_HOME/agent-bridge` or `~/.local/state/agent-bridge`.
        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Configuration {
            if let explicit = environment["AGENT_BRIDGE_STATE_DIR"], !explicit.isEmpty {
                return Configuration(stateDirectory: explicit)
            }
            if geteuid() == 0 {
                return Configuration(stateDirectory: "/var/lib/agent-bridge")
            }
            let base =
                environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "\(environment["HOME"] ?? NSHomeDirectory())/.local/state"
            return Configuration(stateDirectory: "\(base)/agent-bridge")
        }
    }

    /// What `status` found.
    public enum State: String, Sendable {
        case running
        case stopped
        case notCreated = "not_created"
    }

    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The cluster's data folder, which also holds its socket.
    public var dataDirectory: String { "\(configuration.stateDirectory)/pg" }
    var logFile: String { "\(configuration.stateDirectory)/postgresql.log" }
    var lockFile: String { "\(configuration.stateDirectory)/cluster.lock" }
    var socketPath: String { "\(dataDirectory)/.s.PGSQL.5432" }
    var runsAsPostgresUser: Bool { geteuid() == 0 }

    /// The endpoint of the agent-bridge database in this cluster.
    public var endpoint: DatabaseEndpoint {
        DatabaseEndpoint(address: .unixSocket(path: socketPath), username: configuration.username, database: configuration.database)
    }

    /// A cheap check that the server appears to be up, with no process started: used on the fast path of `serve`.
    public var looksRunning: Bool {
        FileManager.default.fileExists(atPath: "\(dataDirectory)/postmaster.pid") && FileManager.default.fileExists(atPath: socketPath)
    }

    /// Creates the cluster if needed and starts it if it is not running. Safe to call from many processes at once.
    public func ensureRunning() async throws(BridgeError) {
        try await prepareStateDirectory()
        try await withLock { () async throws(BridgeError) in
            if !FileManager.default.fileExists(atPath: "\(dataDirectory)/PG_VERSION") {
                try await initialize()
            }
            if try await status() != .running {
                try await start()
            }
            try await createDatabaseIfMissing()
        }
    }

    /// Stops the cluster if it runs.
    public func stop() async throws(BridgeError) {
        try await withLock { () async throws(BridgeError) in
            guard try await status() == .running else { return }
            _ = try await runTool("pg_ctl", ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60"])
        }
    }

    /// Restarts a running cluster with a fast shutdown: sessions are terminated, transactions in flight roll back.
    /// Returns once the server accepts connections again. What `pg_ctl restart -m fast` does to a production server.
    public func restartFast() async throws(BridgeError) {
        try await withLock { () async throws(BridgeError) in
            _ = try await runTool("pg_ctl", ["restart", "-D", dataDirectory, "-l", logFile, "-m", "fast", "-w", "-t", "60", "-s"])
        }
    }

    /// Reports whether the cluster exists and runs.
    public func status() async throws(BridgeError) -> State {
        guard FileManager.default.fileExists(atPath: "\(dataDirectory)/PG_VERSION") else { return .notCreated }
        let result = try await runTool("pg_ctl", ["status", "-D", dataDirectory], allowFailure: true)
        return result.exitCode == 0 ? .running : .stopped
    }

    // MARK: - Steps

    private func prepareStateDirectory() async throws(BridgeError) {
        do {
            try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw clusterError("Cannot create the state folder \(configuration.stateDirectory).", underlying: error)
        }
        if socketPath.utf8.count > 107 {
            throw clusterError("The state folder path is too long for a Unix socket (\(socketPath)); set AGENT_BRIDGE_STATE_DIR to a shorter path.")
        }
        if runsAsPostgresUser {
            _ = try await runCommand("/bin/chown", ["postgres:postgres", configuration.stateDirectory])
        }
    }

    private func initialize() async throws(BridgeError) {
        logger.info("Creating the embedded PostgreSQL cluster.", metadata: ["db.data_directory": "\(dataDirectory)"])
        _ = try await runTool(
            "initdb",
            [
                "-D", dataDirectory, "-U", configuration.username, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions",
            ]
        )
        let settings = """

            # agent-bridge embedded cluster: Unix socket only, private to its owner.
            listen_addresses = ''
            unix_socket_directories = '\(dataDirectory)'
            unix_socket_permissions = 0700
            max_connections = 300
            """
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dataDirectory)/postgresql.conf"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(settings.utf8))
            try handle.close()
        } catch {
            throw clusterError("Cannot write the cluster's postgresql.conf.", underlying: error)
        }
    }

    private func start() async throws(BridgeError) {
        logger.info("Starting the embedded PostgreSQL cluster.", metadata: ["db.data_directory": "\(dataDirectory)"])
        _ = try await runTool("pg_ctl", ["start", "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-s"])
    }

    /// initdb makes only the maintenance databases; the first start creates ours.
    private func createDatabaseIfMissing() async throws(BridgeError) {
        let existing = try await runTool(
            "psql",
            [
                "-h", dataDirectory, "-U", configuration.username, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c",
                "SELECT count(*) FROM pg_database WHERE datname = '\(configuration.database)'",
            ]
        )
        if existing.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0" {
            _ = try await runTool("createdb", ["-h", dataDirectory, "-U", configuration.username, configuration.database])
        }
    }

    // MARK: - Processes and locking

    /// Holds the cluster's lock file while `body` runs. The lock is taken without blocking a thread:
    /// a second starter (another process or task) polls until the first has finished.
    private func withLock<T>(_ body: () async throws(BridgeError) -> T) async throws(BridgeError) -> T {
        let fd = open(lockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw clusterError("Cannot open the lock file \(lockFile).") }
        defer { close(fd) }
        let deadline = ContinuousClock.now + .seconds(120)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                throw clusterError("Cannot lock \(lockFile); another agent-bridge process holds it.")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }

    struct ToolResult {
        var exitCode: Int32
        var output: String
    }

    /// Runs a PostgreSQL tool, as the `postgres` user when we are root.
    private func runTool(_ name: String, _ arguments: [String], allowFailure: Bool = false) async throws(BridgeError) -> ToolResult {
        let path = try Self.locateTool(name)
        if runsAsPostgresUser {
            return try await runCommand("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments, allowFailure: allowFailure)
        }
        return try await runCommand(path, arguments, allowFailure: allowFailure)
    }

    /// Runs a command without a shell, its stdin empty and its stdout and stderr captured to a temporary file.
    ///
    /// Never inherit stdout: in `serve` it is the JSON-RPC channel. A file, not a pipe, takes the output,
    /// because a postmaster that pg_ctl forks could hold a pipe open and a reader would never see its end.
    private func runCommand(_ path: String, _ arguments: [String], allowFailure: Bool = false) async throws(BridgeError) -> ToolResult {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bridge-\(UUID().wireString).out").path
        let outputFile: FileDescriptor
        do {
            outputFile = try FileDescriptor.open(
                FilePath(outputPath),
                .readWrite,
                options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite]
            )
        } catch {
            throw clusterError("Cannot create a temporary file in \(FileManager.default.temporaryDirectory.path).", underlying: error)
        }
        defer {
            try? outputFile.close()
            unlink(outputPath)
        }
        let status: TerminationStatus
        do {
            status = try await Subprocess.run(
                .path(FilePath(path)),
                arguments: Arguments(arguments),
                workingDirectory: runsAsPostgresUser ? FilePath("/") : nil,
                input: .none,
                output: .fileDescriptor(outputFile, closeAfterSpawningProcess: false),
                error: .fileDescriptor(outputFile, closeAfterSpawningProcess: false)
            ).terminationStatus
        } catch {
            throw clusterError("Cannot run \(path).", underlying: error)
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exitCode: Int32
        switch status {
        case .exited(let code): exitCode = code
        case .signaled(let signal): exitCode = 128 + Int32(signal)
        }
        if exitCode != 0 && !allowFailure {
            let tool = path.hasSuffix("runuser") && arguments.count > 3 ? arguments[3] : path
            let name = URL(fileURLWithPath: tool).lastPathComponent
            throw clusterError(
                "\(name) failed (exit \(exitCode)): \(output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(600)) — see \(logFile)"
            )
        }
        return ToolResult(exitCode: exitCode, output: output)
    }

    /// Finds a PostgreSQL server tool on PATH or in Debian's `/usr/lib/postgresql/<version>/bin`.
    public static func locateTool(_ name: String) throws(BridgeError) -> String {
        let fm = FileManager.default
        var candidates: [String] = []
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            let sorted = versions.compactMap { Int($0) }.sorted(by: >)
            candidates += sorted.map { "/usr/lib/postgresql/\($0)/bin/\(name)" }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(dir)/\(name)")
        }
        if let found = candidates.first(where: { fm.isExecutableFile(atPath: $0) }) {
            return found
        }
        throw BridgeError(
            .unavailable,
            .databaseUnavailable,
            "PostgreSQL's \(name) was not found. Install the server (Debian: apt-get install postgresql-15) or set DATABASE_URL to an existing database."
        )
    }

    private func clusterError(_ message: String, underlying: (any Error)? = nil) -> BridgeError {
        BridgeError(.unavailable, .databaseUnavailable, "Embedded PostgreSQL: \(message)", underlying: underlying)
    }
}
