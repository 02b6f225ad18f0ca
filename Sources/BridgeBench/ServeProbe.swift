import Foundation

/// Times `agent-bridge serve` from spawn to its reply to MCP `initialize`, as an MCP client sees it.
///
/// Pipe reads block, so each probe runs on a dispatch queue, never on Swift's cooperative pool.
struct ServeProbe: Sendable {
    /// The `agent-bridge` binary.
    var executable: String
    var databaseURL: String
    var workspace: String

    static let initializeRequest =
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"agent-bridge-bench","version":"1"}}}"#

    /// One fresh process: the time from just before it is spawned until its `initialize` reply is read.
    func measureOnce() async throws -> Duration {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.measureBlocking() })
            }
        }
    }

    /// An `agent-bridge serve` child for the bench: local identity (never a token from the environment), the
    /// bench's database and workspace; stdin, stdout and stderr are the caller's to set.
    static func serveProcess(executable: String, participant: String, workspace: String, databaseURL: String, logLevel: String) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "serve", "--participant", participant, "--workspace", workspace, "--auth", "local",
            "--database-url", databaseURL, "--log-level", logLevel,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "AGENT_BRIDGE_TOKEN")
        process.environment = environment
        return process
    }

    private func measureBlocking() throws -> Duration {
        let process = Self.serveProcess(
            executable: executable,
            participant: "bench-serve",
            workspace: workspace,
            databaseURL: databaseURL,
            logLevel: "warning"
        )
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice

        let start = ContinuousClock.now
        try process.run()
        // A server that never answers is stopped, which ends the read below.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 15, execute: watchdog)
        defer {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            watchdog.cancel()
        }
        input.fileHandleForWriting.write(Data((Self.initializeRequest + "\n").utf8))

        var buffer = Data()
        while true {
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer = Data(buffer[(newline + 1)...])
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                    object["id"] as? Int == 1, object["result"] != nil
                {
                    return start.duration(to: .now)
                }
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw ServeProbeError(message: "serve closed stdout without answering initialize") }
            buffer.append(chunk)
        }
    }
}

/// Why a serve probe got no reply.
struct ServeProbeError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
