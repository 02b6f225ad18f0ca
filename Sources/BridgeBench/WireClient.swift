import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One `agent-bridge serve` child spoken to as a raw MCP client does: newline-delimited JSON-RPC on its
/// stdin and stdout, one request at a time. The server logs at `info`, so it writes a `tool.call` line per
/// tool call on stderr; those go to a temporary file, read when the child is stopped.
///
/// Every method blocks on pipe I/O: call them from a dispatch queue, never from Swift's cooperative pool.
/// A watchdog terminates the child once `lifetime` has passed, which ends any read still waiting on it.
final class WireClient {
    /// A JSON-RPC reply and the time from just before its request line was written until the reply line was read.
    struct Reply {
        var message: [String: Any]
        var roundTrip: Duration
    }

    /// A `tools/call` reply: the tool's structured result, or the code it failed with.
    struct ToolReply {
        var structured: [String: Any]
        /// nil on success; the `BridgeError` code of a tool error, or `JSONRPC <code>` for a protocol error.
        var errorCode: String?
        var roundTrip: Duration
    }

    /// One `tool.call` line of the server's log (`tool`, `duration_ms`, `code`).
    struct ToolCallLine: Sendable {
        var tool: String
        var durationMs: Double
        var code: String
    }

    /// Why an exchange got no reply; `code` is what the bench counts it under.
    enum Failure: Error, CustomStringConvertible {
        case cannotStart(String)
        case closed, timedOut
        case malformed(String)

        var code: String {
            switch self {
            case .cannotStart: "SERVE_NOT_STARTED"
            case .closed: "NO_REPLY"
            case .timedOut: "TIMED_OUT"
            case .malformed: "MALFORMED_REPLY"
            }
        }

        var description: String {
            switch self {
            case .cannotStart(let why): "serve did not start: \(why)"
            case .closed: "serve closed its stdout"
            case .timedOut: "serve did not answer in time"
            case .malformed(let line): "serve wrote a line that is not JSON-RPC: \(line.prefix(200))"
            }
        }
    }

    private let process: Process
    private let input: Pipe
    private let output: Pipe
    private let logFile: URL
    private let watchdog: DispatchWorkItem
    private var buffer = Data()
    private var nextID = 1

    /// Spawns `executable serve` as `participant` in `workspace` on `databaseURL`, with `--auth local`,
    /// `--log-level logLevel` (`info` writes the `tool.call` lines ``stop()`` returns) and `environment` added to
    /// the bench's own.
    init(
        executable: String,
        databaseURL: String,
        workspace: String,
        participant: String,
        lifetime: Duration,
        logLevel: String = "info",
        environment: [String: String] = [:]
    ) throws {
        _ = Self.ignoreBrokenPipes
        let logFile = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("agent-bridge-bench-wire-\(UUID().uuidString.prefix(8).lowercased()).log")
        guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
            throw Failure.cannotStart("cannot create the log file \(logFile.path)")
        }
        let process = ServeProbe.serveProcess(
            executable: executable,
            participant: participant,
            workspace: workspace,
            databaseURL: databaseURL,
            logLevel: logLevel
        )
        process.environment?.merge(environment) { $1 }
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        self.process = process
        self.input = input
        self.output = output
        self.logFile = logFile
        watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        do {
            process.standardError = try FileHandle(forWritingTo: logFile)
            try process.run()
        } catch {
            try? FileManager.default.removeItem(at: logFile)
            throw Failure.cannotStart(String(describing: error))
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + lifetime.timeInterval, execute: watchdog)
    }

    /// A write to a server that has died fails with EPIPE instead of ending the bench with SIGPIPE.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Sends a request and waits up to `timeout` for the reply with its id; other lines are skipped.
    func request(_ method: String, params: [String: Any], timeout: Duration) throws -> Reply {
        let id = nextID
        nextID += 1
        var line = try JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "id": id, "method": method, "params": params])
        line.append(0x0A)
        let start = ContinuousClock.now
        try write(line)
        let deadline = start + timeout
        while true {
            let (reply, readAt) = try readLine(until: deadline)
            guard let message = try? JSONSerialization.jsonObject(with: reply) as? [String: Any] else {
                throw Failure.malformed(String(decoding: reply, as: UTF8.self))
            }
            if message["id"] as? Int == id { return Reply(message: message, roundTrip: start.duration(to: readAt)) }
        }
    }

    /// The MCP handshake: `initialize`, then `notifications/initialized`. False when the reply has no result.
    func initialize(timeout: Duration) throws -> Bool {
        let hello = try request(
            "initialize",
            params: [
                "protocolVersion": "2025-11-25", "capabilities": [String: Any](),
                "clientInfo": ["name": "agent-bridge-bench", "version": "1"],
            ],
            timeout: timeout
        )
        guard hello.message["result"] != nil else { return false }
        try notify("notifications/initialized")
        return true
    }

    /// Sends a notification: no id, no reply.
    func notify(_ method: String) throws {
        var line = try JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "method": method])
        line.append(0x0A)
        try write(line)
    }

    /// Calls a tool with `tools/call`.
    func callTool(_ name: String, arguments: [String: Any], timeout: Duration) throws -> ToolReply {
        let reply = try request("tools/call", params: ["name": name, "arguments": arguments], timeout: timeout)
        if let error = reply.message["error"] as? [String: Any] {
            return ToolReply(structured: [:], errorCode: "JSONRPC \(error["code"] as? Int ?? 0)", roundTrip: reply.roundTrip)
        }
        guard let result = reply.message["result"] as? [String: Any] else {
            return ToolReply(structured: [:], errorCode: "MALFORMED_REPLY", roundTrip: reply.roundTrip)
        }
        let structured = result["structuredContent"] as? [String: Any] ?? [:]
        guard result["isError"] as? Bool == true else {
            return ToolReply(structured: structured, errorCode: nil, roundTrip: reply.roundTrip)
        }
        let code = (structured["error"] as? [String: Any])?["code"] as? String ?? "TOOL_ERROR"
        return ToolReply(structured: structured, errorCode: code, roundTrip: reply.roundTrip)
    }

    /// The CPU time the server has used so far, all its threads, user and system: `utime + stime` of
    /// `/proc/PID/stat`, in clock ticks of `sysconf(_SC_CLK_TCK)` (usually 10 ms each). nil when unreadable.
    func cpuTime() -> Duration? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let endOfName = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)" the fields start at the third, state; utime and stime are the 14th and 15th.
        let fields = stat[stat.index(after: endOfName)...].split(separator: " ")
        guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return nil }
        let ticksPerSecond = Int64(sysconf(Int32(_SC_CLK_TCK)))
        guard ticksPerSecond > 0 else { return nil }
        return .microseconds((user + system) * 1_000_000 / ticksPerSecond)
    }

    /// The server's resident memory, from `/proc/PID/status`: anonymous (heap, stacks) and file-backed (the
    /// mapped binary and libraries), in KiB. nil when unreadable.
    func residentMemory() -> (anonymousKiB: Int, fileKiB: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        func kibibytes(_ field: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        guard let anonymous = kibibytes("RssAnon"), let file = kibibytes("RssFile") else { return nil }
        return (anonymous, file)
    }

    /// Closes the server's stdin and waits for it to exit (terminating, then killing it if it does not within
    /// a few seconds); returns the `tool.call` lines of its log and removes the log file.
    func stop() -> [ToolCallLine] {
        try? input.fileHandleForWriting.close()
        if !waitForExit(within: .seconds(5)) {
            process.terminate()
            if !waitForExit(within: .seconds(2)) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        watchdog.cancel()
        defer { try? FileManager.default.removeItem(at: logFile) }
        guard let log = try? Data(contentsOf: logFile) else { return [] }
        return log.split(separator: 0x0A).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                object["event"] as? String == "tool.call",
                let tool = object["tool"] as? String, let duration = object["duration_ms"] as? Double
            else { return nil }
            return ToolCallLine(tool: tool, durationMs: duration, code: object["code"] as? String ?? "")
        }
    }

    private func waitForExit(within limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        return !process.isRunning
    }

    private func write(_ data: Data) throws {
        do {
            try input.fileHandleForWriting.write(contentsOf: data)
        } catch {
            throw Failure.closed
        }
    }

    /// The next line of stdout, without its newline, and when it was complete.
    private func readLine(until deadline: ContinuousClock.Instant) throws -> (Data, ContinuousClock.Instant) {
        let descriptor = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let readAt = ContinuousClock.now
                let line = buffer[buffer.startIndex..<newline]
                buffer = Data(buffer[(newline + 1)...])
                return (Data(line), readAt)
            }
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw Failure.timedOut }
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, Int32(min(max(1, left.milliseconds.rounded(.up)), 60_000)))
            if polled == 0 { continue }
            if polled < 0 {
                if errno == EINTR { continue }
                throw Failure.closed
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw Failure.closed }
            buffer.append(chunk)
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

extension Duration {
    /// Seconds with their fraction, for Dispatch deadlines.
    var timeInterval: TimeInterval { milliseconds / 1000 }
}
