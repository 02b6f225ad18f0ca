import Foundation

/// Speaks MCP to the real `agent-bridge serve` binary over its stdin/stdout, as Codex and Claude Code do.
///
/// Pipe reads block, so every exchange runs on this client's own serial queue and is awaited: blocking
/// Swift's cooperative pool (two threads on a 2-core CI machine) would stall every other test in the process.
public final class MCPClient: @unchecked Sendable {
    private let queue = DispatchQueue(label: "mcp-client")
    public let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()
    private var nextID = 1

    /// - Parameter stderrLog: a file that receives the server's log lines; without it they are discarded.
    public init(
        databaseURL: String?,
        participant: String?,
        role: String = "coordinator",
        extraEnvironment: [String: String] = [:],
        stderrLog: URL? = nil
    ) throws {
        process.executableURL = TestDatabase.executableURL
        process.arguments = ["serve"]
        process.environment = Self.serveEnvironment(databaseURL: databaseURL, participant: participant, role: role, extra: extraEnvironment)
        process.standardInput = input
        process.standardOutput = output
        if let stderrLog {
            _ = FileManager.default.createFile(atPath: stderrLog.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: stderrLog)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    /// The environment `serve` runs with in these tests: the given database and identity, warnings-only logs.
    public static func serveEnvironment(
        databaseURL: String?,
        participant: String?,
        role: String = "coordinator",
        extra: [String: String] = [:]
    ) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        // nil means the embedded default: serve finds its cluster under AGENT_BRIDGE_STATE_DIR.
        if let databaseURL { environment["DATABASE_URL"] = databaseURL } else { environment.removeValue(forKey: "DATABASE_URL") }
        environment["AGENT_BRIDGE_ROLE"] = role
        environment["AGENT_BRIDGE_LOG_LEVEL"] = "warning"
        environment["AGENT_BRIDGE_DB_TIMEOUT_MS"] = "30000"
        if let participant {
            environment["AGENT_BRIDGE_PARTICIPANT"] = participant
        } else {
            environment.removeValue(forKey: "AGENT_BRIDGE_PARTICIPANT")
        }
        environment.merge(extra) { $1 }
        return environment
    }

    /// Sends a request and returns its response object.
    private func requestBlocking(_ method: String, _ params: [String: Any]) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        try send(["jsonrpc": "2.0", "id": id, "method": method, "params": params])
        while true {
            let message = try readMessageBlocking()
            if message["id"] as? Int == id { return message }
        }
    }

    public func send(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object)
        data.append(0x0A)
        try write(data)
    }

    public func sendRaw(_ line: String) {
        try? write(Data((line + "\n").utf8))
    }

    /// Writes to the server's stdin; a server that is gone (killed) is `MCPTestError.closed`, not a crash.
    private func write(_ data: Data) throws {
        Self.ignoreBrokenPipes
        do {
            try input.fileHandleForWriting.write(contentsOf: data)
        } catch {
            throw MCPTestError.closed
        }
    }

    /// A write to a dead server's pipe fails with EPIPE instead of killing the test process with SIGPIPE.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Writes `bytes` and a newline as they are, valid JSON or not; blocks while the pipe is full.
    public func sendLineBlocking(_ bytes: Data) {
        var line = bytes
        line.append(0x0A)
        try? write(line)
    }

    /// Reads one line of stdout; every line must be a JSON-RPC message.
    ///
    /// - Parameter timeout: how long to wait for more output before giving up with ``MCPTestError/timedOut``,
    ///   so a missing answer fails the test instead of hanging it; nil waits for ever.
    public func readMessageBlocking(timeout: Duration? = nil) throws -> [String: Any] {
        let line = try readLineBlocking(timeout: timeout)
        let object = try JSONSerialization.jsonObject(with: line) as? [String: Any]
        guard let object, object["jsonrpc"] as? String == "2.0" else {
            throw MCPTestError.notJSONRPC(String(decoding: line, as: UTF8.self))
        }
        return object
    }

    /// Reads one line of stdout as the bytes the server wrote, without its newline.
    public func readLineBlocking(timeout: Duration? = nil) throws -> Data {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Data(buffer[buffer.startIndex..<newline])
                buffer = Data(buffer[(newline + 1)...])
                return line
            }
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                var ready = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
                let milliseconds = max(0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                if poll(&ready, 1, milliseconds) == 0 { throw MCPTestError.timedOut }
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw MCPTestError.closed }
            buffer.append(chunk)
        }
    }

    /// Runs blocking exchanges (``sendLineBlocking(_:)``, ``readMessageBlocking(timeout:)``) on this client's
    /// queue, off the cooperative pool.
    public func blocking<T>(_ work: @escaping (MCPClient) throws -> T) async throws -> T {
        try await onQueue { try work(self) }
    }

    /// The server's resident set size in kilobytes (`VmRSS` in `/proc/PID/status`).
    public func residentKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { throw MCPTestError.protocolError("no VmRSS for pid \(process.processIdentifier)") }
        return kilobytes
    }

    public func initialize() async throws -> [String: Any] {
        let response = try await request(
            "initialize",
            [
                "protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "tests", "version": "1"],
            ]
        )
        try send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        return response
    }

    /// Calls a tool and returns (isError, structuredContent, text content).
    public func call(_ tool: String, _ arguments: [String: Any] = [:]) async throws -> (isError: Bool, structured: [String: Any], text: String) {
        let response = try await request("tools/call", ["name": tool, "arguments": arguments])
        guard let result = response["result"] as? [String: Any] else { throw MCPTestError.protocolError("\(response)") }
        let text = ((result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
        return (result["isError"] as? Bool ?? false, result["structuredContent"] as? [String: Any] ?? [:], text)
    }

    /// Calls a tool and returns the answer's line as the server wrote it, for tests that must not trust
    /// `JSONSerialization` with the reply (on Linux it drops a leading U+FEFF from strings).
    public func callLine(_ tool: String, _ arguments: [String: Any]) async throws -> Data {
        let id = nextID
        nextID += 1
        let frame = try JSONSerialization.data(withJSONObject: [
            "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": ["name": tool, "arguments": arguments],
        ])
        return try await exchangeRaw(String(decoding: frame, as: UTF8.self), id: id)
    }

    /// Sends one request line exactly as given (it must carry `"id":ID`) and returns the answer's line as written.
    public func exchangeRaw(_ line: String, id: Int, timeout: Duration = .seconds(30)) async throws -> Data {
        try await onQueue {
            try self.write(Data((line + "\n").utf8))
            while true {
                let answer = try self.readLineBlocking(timeout: timeout)
                if (try? JSONSerialization.jsonObject(with: answer) as? [String: Any])?["id"] as? Int == id { return answer }
            }
        }
    }

    /// Reads messages until one satisfies `match`, giving up after `timeout`; the others read meanwhile are returned too.
    public func readUntil(
        timeout: Duration,
        _ match: @escaping @Sendable ([String: Any]) -> Bool
    ) async throws -> (match: [String: Any], before: [[String: Any]]) {
        try await onQueue {
            let deadline = ContinuousClock.now + timeout
            var before: [[String: Any]] = []
            while true {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else { throw MCPTestError.timedOut }
                let message = try self.readMessageBlocking(timeout: left)
                if match(message) { return (message, before) }
                before.append(message)
            }
        }
    }

    /// Sends a request without waiting for its answer; returns its id.
    public func start(_ method: String, _ params: [String: Any]) async throws -> Int {
        nonisolated(unsafe) let params = params
        return try await onQueue {
            let id = self.nextID
            self.nextID += 1
            try self.send(["jsonrpc": "2.0", "id": id, "method": method, "params": params])
            return id
        }
    }

    /// Closes the server's stdin, as a client that has written everything it means to.
    public func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    public func closeAndWait() async -> Int32 {
        try? input.fileHandleForWriting.close()
        return await onQueue {
            self.process.waitUntilExit()
            return self.process.terminationStatus
        }
    }

    /// Sends a request and returns its response object.
    public func request(_ method: String, _ params: [String: Any] = [:]) async throws -> [String: Any] {
        nonisolated(unsafe) let params = params
        return try await onQueue { try self.requestBlocking(method, params) }
    }

    /// Reads one line of stdout; every line must be a JSON-RPC message.
    public func readMessage() async throws -> [String: Any] {
        try await onQueue { try self.readMessageBlocking() }
    }

    private func onQueue<T>(_ work: @escaping () throws -> T) async throws -> T {
        nonisolated(unsafe) let work = work
        let boxed: Result<Unchecked<T>, Error> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { Unchecked(value: try work()) }) }
        }
        return try boxed.get().value
    }

    private func onQueue<T>(_ work: @escaping () -> T) async -> T {
        nonisolated(unsafe) let work = work
        let boxed: Unchecked<T> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Unchecked(value: work())) }
        }
        return boxed.value
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// Carries a JSON object graph across the queue hop; it is handed over, never shared.
private struct Unchecked<T>: @unchecked Sendable {
    let value: T
}

public enum MCPTestError: Error {
    case closed
    case timedOut
    case notJSONRPC(String)
    case protocolError(String)
}

/// Runs the `agent-bridge` binary once (a CLI command, not `serve`) off the cooperative pool.
public struct CommandRun: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public static func agentBridge(
        _ arguments: [String],
        environment extra: [String: String] = [:],
        in directory: URL? = nil
    ) async throws -> CommandRun {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    process.executableURL = TestDatabase.executableURL
                    process.arguments = arguments
                    if let directory { process.currentDirectoryURL = directory }
                    var environment = ProcessInfo.processInfo.environment
                    environment["AGENT_BRIDGE_LOG_LEVEL"] = "warning"
                    environment.merge(extra) { $1 }
                    process.environment = environment
                    let output = Pipe()
                    let errors = Pipe()
                    process.standardOutput = output
                    process.standardError = errors
                    process.standardInput = FileHandle.nullDevice
                    try process.run()
                    // Drain both pipes before waiting, so a chatty command cannot block on a full pipe.
                    let stderrBox = Unchecked(value: NSMutableData())
                    let drained = DispatchSemaphore(value: 0)
                    DispatchQueue.global().async {
                        stderrBox.value.append(errors.fileHandleForReading.readDataToEndOfFile())
                        drained.signal()
                    }
                    let outputData = output.fileHandleForReading.readDataToEndOfFile()
                    drained.wait()
                    let stderrData = stderrBox.value as Data
                    process.waitUntilExit()
                    continuation.resume(
                        returning: CommandRun(
                            status: process.terminationStatus,
                            stdout: String(decoding: outputData, as: UTF8.self),
                            stderr: String(decoding: stderrData, as: UTF8.self)
                        )
                    )
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
