import BridgeTestSupport
import Foundation
import Testing

/// `agent-bridge serve` over every kind of stdin and stdout a shell can hand it: pipes, sockets, regular files
/// and `/dev/null` (`agent-bridge serve < requests.jsonl > replies.jsonl`). Each must serve, or end, cleanly.
@Suite struct ServeStdioKindsTests {
    enum Channel: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case pipe, socket, regularFile
        var testDescription: String { rawValue }
    }

    /// The `initialize` request every session starts with, id 1.
    static let initializeLine =
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#

    /// Requests with one answer each, including the refusals that share the line framing: an oversize line and a
    /// line nested 10,000 deep. Ids 1...6 and one null.
    static func requests() -> Data {
        var lines = [
            initializeLine,
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"v1_whoami","arguments":{}}}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"a":\#(String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000))}}"#,
            #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"v1_whoami","arguments":7}}"#,
        ].map { Data($0.utf8) }
        lines.append(Data(repeating: UInt8(ascii: "x"), count: 8 * 1024 * 1024 + 10))
        lines.append(Data(#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#.utf8))
        var data = Data(lines.joined(separator: [0x0A]))
        // The last line has no newline: end of input ends it.
        data.append(Data("\n".utf8) + Data(#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#.utf8))
        return data
    }

    static func expectAnswers(_ output: Data, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let lines = output.split(separator: 0x0A)
        var ids: [Int] = []
        var nulls = 0
        for line in lines {
            let parsed = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            let message = try #require(
                parsed,
                "not a JSON object: \(String(decoding: line.prefix(300), as: UTF8.self))",
                sourceLocation: sourceLocation
            )
            #expect(message["jsonrpc"] as? String == "2.0", sourceLocation: sourceLocation)
            if let id = message["id"] as? Int { ids.append(id) } else if message["id"] is NSNull { nulls += 1 }
            let code = (message["error"] as? [String: Any])?["code"] as? Int
            #expect(code != -32603, "\(message)", sourceLocation: sourceLocation)
        }
        #expect(ids.sorted() == [1, 2, 3, 4, 5, 6], sourceLocation: sourceLocation)
        #expect(nulls == 1, "the oversize line's answer", sourceLocation: sourceLocation)
        #expect(lines.count == 7, sourceLocation: sourceLocation)
    }

    /// Runs serve with the given stdin and stdout, waits for it off the cooperative pool, and returns its exit
    /// status and what it wrote to stderr.
    static func serve(
        database: TestDatabase,
        stdin: FileHandle,
        stdout: FileHandle,
        whileRunning: @escaping @Sendable () throws -> Void = {}
    ) async throws -> (status: Int32, stderr: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = TestDatabase.executableURL
        process.arguments = ["serve"]
        process.environment = MCPClient.serveEnvironment(databaseURL: database.url, participant: "alice")
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: log)
        let running = process
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    try running.run()
                    try whileRunning()
                    running.waitUntilExit()
                    continuation.resume(returning: running.terminationStatus)
                } catch {
                    if running.isRunning { running.terminate() }
                    continuation.resume(throwing: error)
                }
            }
        }
        return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    static func expectNoTrap(_ stderr: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for sign in ["Fatal error", "backtrace", "Crash", "Operation not permitted"] {
            #expect(!stderr.contains(sign), "serve's stderr: \(stderr.suffix(2000))", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: Channel.allCases)
    func servesEveryRequestAndEndsCleanly(over channel: Channel) async throws {
        let database = try await TestDatabase.create()
        let requests = Self.requests()
        switch channel {
        case .regularFile:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stdio-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let input = directory.appendingPathComponent("requests.jsonl")
            let output = directory.appendingPathComponent("replies.jsonl")
            try requests.write(to: input)
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let run = try await Self.serve(
                database: database,
                stdin: try FileHandle(forReadingFrom: input),
                stdout: try FileHandle(forWritingTo: output)
            )
            #expect(run.status == 0)
            Self.expectNoTrap(run.stderr)
            try Self.expectAnswers(try Data(contentsOf: output))
        case .pipe, .socket:
            let (client, server) = try Self.channel(channel)
            let received = Box()
            let run = try await Self.serve(database: database, stdin: server.input, stdout: server.output) {
                try? server.input.close()
                if server.output !== server.input { try? server.output.close() }
                let reader = DispatchGroup()
                reader.enter()
                DispatchQueue.global().async {
                    received.data = client.output.readDataToEndOfFile()
                    reader.leave()
                }
                client.input.write(requests)
                client.finishWriting()
                reader.wait()
            }
            #expect(run.status == 0)
            Self.expectNoTrap(run.stderr)
            try Self.expectAnswers(received.data)
        }
    }

    @Test func stdinFromDevNullEndsCleanlyWithNoOutput() async throws {
        let database = try await TestDatabase.create()
        let output = Pipe()
        let received = Box()
        let run = try await Self.serve(database: database, stdin: FileHandle.nullDevice, stdout: output.fileHandleForWriting) {
            try? output.fileHandleForWriting.close()
            received.data = output.fileHandleForReading.readDataToEndOfFile()
        }
        #expect(run.status == 0)
        Self.expectNoTrap(run.stderr)
        #expect(received.data.isEmpty, "stdout carries nothing but answers: \(String(decoding: received.data, as: UTF8.self))")
    }

    @Test func stdoutToDevNullServesWithoutCrashing() async throws {
        let database = try await TestDatabase.create()
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("requests-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: input) }
        try Self.requests().write(to: input)
        let run = try await Self.serve(database: database, stdin: try FileHandle(forReadingFrom: input), stdout: FileHandle.nullDevice)
        #expect(run.status == 0)
        Self.expectNoTrap(run.stderr)
        // Pipe in, /dev/null out: NIO could take stdin but not stdout, so both go blocking.
        let pipe = Pipe()
        let requests = Self.requests()
        let piped = try await Self.serve(database: database, stdin: pipe.fileHandleForReading, stdout: FileHandle.nullDevice) {
            try? pipe.fileHandleForReading.close()
            pipe.fileHandleForWriting.write(requests)
            try? pipe.fileHandleForWriting.close()
        }
        #expect(piped.status == 0)
        Self.expectNoTrap(piped.stderr)
    }

    @Test(arguments: [(">&-", 1), ("2>&-", 2)])
    func aClosedStandardDescriptorIsReopenedOnDevNull(redirection: String, descriptor: Int) async throws {
        // A parent that closes stdout or stderr would otherwise hand its number to the next descriptor serve opens
        // (an event loop's, the database socket), and the JSON-RPC answers or the logs would be written into it.
        let database = try await TestDatabase.create()
        let input = Pipe()
        // Through a shell, which closes the descriptor before exec (the exec keeps the pid).
        let process = try Self.launch(
            database: database,
            command: ["/bin/sh", "-c", "exec \"$0\" serve \(redirection)", TestDatabase.executableURL.path],
            stdin: input.fileHandleForReading,
            stdout: FileHandle.nullDevice
        )
        defer { if process.isRunning { process.terminate() } }
        // Once serve has answered a call that reached the database, look at its descriptor.
        let call =
            Self.initializeLine
            + "\n" + #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
            + "\n" + #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"v1_whoami","arguments":{}}}"# + "\n"
        try input.fileHandleForWriting.write(contentsOf: Data(call.utf8))
        let path = "/proc/\(process.processIdentifier)/fd/\(descriptor)"
        try await waitUntil("serve has opened its database connection", timeout: .seconds(20)) {
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd")) ?? []
            return open.count >= 8
        }
        try await Task.sleep(for: .milliseconds(500))
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
        #expect(target == "/dev/null", "fd \(descriptor) of serve is \(target)")
        try? input.fileHandleForWriting.close()
    }

    @Test func answersLargerThanThePipeReachAReaderThatReadsOnlyAfterInputEnded() async throws {
        // A client that writes everything, closes stdin and reads later: serve must not exit (closing stdout) while
        // the pipe still holds back answers it has queued. Eight tools/list replies are far more than a 64 KiB pipe.
        let database = try await TestDatabase.create()
        let input = Pipe()
        let output = Pipe()
        let process = try Self.launch(
            database: database,
            command: [TestDatabase.executableURL.path, "serve"],
            stdin: input.fileHandleForReading,
            stdout: output.fileHandleForWriting
        )
        defer { if process.isRunning { process.terminate() } }
        try? input.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        var requests = Self.initializeLine + "\n"
        for id in 2...9 { requests += #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/list"}"# + "\n" }
        try input.fileHandleForWriting.write(contentsOf: Data(requests.utf8))
        try input.fileHandleForWriting.close()
        try await Task.sleep(for: .seconds(2))
        let received = Box()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                received.data = output.fileHandleForReading.readDataToEndOfFile()
                continuation.resume()
            }
        }
        let lines = received.data.split(separator: 0x0A)
        #expect(received.data.count > 128 * 1024, "more than two pipes' worth of answers (\(received.data.count) bytes)")
        var ids: [Int] = []
        for line in lines {
            let message = try #require(
                try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                "a cut answer: \(String(decoding: line.suffix(200), as: UTF8.self))"
            )
            if let id = message["id"] as? Int { ids.append(id) }
        }
        #expect(ids.sorted() == Array(1...9), "every answer, whole")
    }

    // MARK: - Plumbing

    /// Starts `command` (serve, or a shell that execs it) as alice on the database, stderr discarded, and returns
    /// it running: for tests that look at serve while it runs, where ``serve(database:stdin:stdout:whileRunning:)``
    /// waits for its exit.
    static func launch(database: TestDatabase, command: [String], stdin: FileHandle, stdout: FileHandle) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = MCPClient.serveEnvironment(databaseURL: database.url, participant: "alice")
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// One end of a channel: where the client writes and where it reads.
    struct End: @unchecked Sendable {
        let input: FileHandle
        let output: FileHandle
        let finishWriting: @Sendable () -> Void
    }

    /// The client's end and the server's end (its stdin and stdout) of a pipe pair or a Unix socket pair.
    static func channel(_ kind: Channel) throws -> (client: End, server: (input: FileHandle, output: FileHandle)) {
        switch kind {
        case .pipe, .regularFile:
            let requests = Pipe()
            let replies = Pipe()
            let writer = requests.fileHandleForWriting
            return (
                End(input: writer, output: replies.fileHandleForReading, finishWriting: { try? writer.close() }),
                (requests.fileHandleForReading, replies.fileHandleForWriting)
            )
        case .socket:
            var descriptors: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0 else {
                throw MCPTestError.protocolError("socketpair failed: \(errno)")
            }
            let client = FileHandle(fileDescriptor: descriptors[0], closeOnDealloc: true)
            let server = FileHandle(fileDescriptor: descriptors[1], closeOnDealloc: true)
            let clientDescriptor = descriptors[0]
            // Half-close: serve sees end of input and still writes its answers back on the same socket.
            return (End(input: client, output: client, finishWriting: { shutdown(clientDescriptor, Int32(SHUT_WR)) }), (server, server))
        }
    }

    /// Bytes handed from a reader thread back to the test.
    final class Box: @unchecked Sendable {
        var data = Data()
    }
}
