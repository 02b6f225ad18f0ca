import BridgeCore
import BridgeTestSupport
import Foundation
import Testing

extension Tag {
    /// Seeded fuzzing of the JSON-RPC surface; fast enough to run in every CI `swift test`.
    @Tag static var fuzz: Self
}

/// Thousands of malformed frames and tool arguments, from a seeded generator, through the real `serve` binary.
///
/// Every request frame must get exactly one answer, with its id when the id is readable and `null` otherwise,
/// carrying a client-error code (or a tool result whose error is not `INTERNAL`); notifications and responses
/// get none; the process stays up, and its memory stays flat.
@Suite struct ProtocolFuzzTests {
    static let seed: UInt64 = 0x5EED_2025_1125
    static let frameCount = 5_200
    static let batchSize = 200

    @Test(.tags(.fuzz)) func malformedFramesAreEachAnsweredOnceWithAClientErrorAndMemoryStaysFlat() async throws {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: "fuzzer")
        _ = try await client.initialize()
        var warmUp = FrameGenerator(seed: Self.seed ^ 0xFFFF, firstID: 1_000_000)
        var generator = FrameGenerator(seed: Self.seed, firstID: 0)
        var tally = Tally()

        // Warm-up: every kind of frame, in batches like the run's, so RSS is measured at its working size. It
        // holds oversize lines among other frames: glibc serves the first 8 MiB buffer with mmap and raises its
        // threshold when that is freed, so only a later one sets the heap's high-water mark.
        var warmUpFrames = (0..<800).map { _ in warmUp.next() }
        for position in [100, 300, 500, 700] { warmUpFrames.insert(warmUp.oversizeLine(), at: position) }
        for (index, batch) in stride(from: 0, to: warmUpFrames.count, by: Self.batchSize).enumerated() {
            try await Self.run(
                Array(warmUpFrames[batch..<min(batch + Self.batchSize, warmUpFrames.count)]),
                batch: 1_000 + index,
                on: client,
                tally: &tally
            )
        }
        let baseline = try client.residentKilobytes()
        (tally.requests, tally.silent, tally.answers, tally.codes, tally.toolErrors) = (0, 0, 0, [:], 0)

        var frames = (0..<Self.frameCount).map { _ in generator.next() }
        for position in [900, 2_600, 4_300] { frames.insert(generator.oversizeLine(), at: position) }
        let started = ContinuousClock.now
        for (index, batch) in stride(from: 0, to: frames.count, by: Self.batchSize).enumerated() {
            try await Self.run(Array(frames[batch..<min(batch + Self.batchSize, frames.count)]), batch: index + 1, on: client, tally: &tally)
        }
        let elapsed = started.duration(to: .now)
        let peak = try client.residentKilobytes()

        #expect(client.process.isRunning, "serve is still up")
        let whoami = try await client.call("v1_whoami")
        #expect(!whoami.isError, "a valid call after the fuzz: \(whoami.text)")
        // Stragglers (a second answer to anything) would show up before this ping's answer.
        try await Self.run([], batch: -1, on: client, tally: &tally)

        print(
            """
            Fuzz: \(frames.count) frames (\(tally.requests) requests, \(tally.silent) notifications or responses), \
            \(tally.answers) answers in \(elapsed); codes \(tally.codes.sorted { $0.key < $1.key }), \(tally.toolErrors) tool errors; \
            RSS \(baseline) KB after warm-up, \(peak) KB after (delta \(peak - baseline) KB)
            """
        )
        #expect(tally.failures.isEmpty, "\(tally.failures.count) failures, first: \(tally.failures.prefix(10))")
        #expect(tally.requests >= 4_000 && frames.count >= 5_000)
        #expect(peak - baseline < 20 * 1024, "RSS grew from \(baseline) KB to \(peak) KB")
        #expect(await client.closeAndWait() == 0)
    }

    // MARK: - Running a batch

    /// What the run saw, across batches.
    struct Tally {
        var requests = 0
        var silent = 0
        var answers = 0
        var codes: [Int: Int] = [:]
        /// Tool results with `isError`: malformed arguments refused by the tools themselves.
        var toolErrors = 0
        var answered: Set<String> = []
        var failures: [String] = []
    }

    /// Sends the frames and a closing ping, then reads until every expected answer is in.
    ///
    /// Refusals are written in input order before the next line is read, so every null-id answer to this batch
    /// arrives before the closing ping's; answers from tool handlers may come later and are awaited by id.
    static func run(_ frames: [FuzzFrame], batch: Int, on client: MCPClient, tally: inout Tally) async throws {
        let sentinel = "sentinel-\(batch)"
        var expectedIDs: [String: FuzzFrame] = [:]
        var expectedNulls = 0
        for frame in frames {
            switch frame.expect {
            case .answer(let id):
                expectedIDs[id] = frame
                tally.requests += 1
            case .nullAnswer:
                expectedNulls += 1
                tally.requests += 1
            case .silent: tally.silent += 1
            }
        }
        let lines = frames.map(\.bytes)
        let messages: [Unchecked] = try await client.blocking { client in
            for line in lines { client.sendLineBlocking(line) }
            client.sendLineBlocking(Data(#"{"jsonrpc":"2.0","id":"\#(sentinel)","method":"ping"}"#.utf8))
            var messages: [Unchecked] = []
            var pending = Set(expectedIDs.keys)
            var sentinelSeen = false
            while !sentinelSeen || !pending.isEmpty {
                let message = try client.readMessageBlocking(timeout: .seconds(120))
                let key = FuzzFrame.key(message["id"])
                if key == "s:\(sentinel)" { sentinelSeen = true } else { messages.append(Unchecked(message: message, afterSentinel: sentinelSeen)) }
                if let key { pending.remove(key) }
            }
            return messages
        }
        var nulls = 0
        for entry in messages {
            let message = entry.message
            tally.answers += 1
            let key = FuzzFrame.key(message["id"])
            let frame = key.flatMap { expectedIDs[$0] }
            let label = frame.map { "\($0.kind): \($0.preview)" } ?? "batch \(batch)"
            if message["id"] is NSNull {
                nulls += 1
                if entry.afterSentinel { tally.failures.append("null-id answer after the batch's closing ping (\(label)): \(message)") }
            } else if let key {
                if frame == nil { tally.failures.append("answer with an id no request of this batch carries: \(message)") }
                if !tally.answered.insert(key).inserted { tally.failures.append("second answer to \(key) (\(label)): \(message)") }
            } else {
                tally.failures.append("answer without an id member: \(message)")
            }
            if let problem = Self.problem(message) { tally.failures.append("\(problem) (\(label)): \(String(describing: message).prefix(400))") }
            if let code = (message["error"] as? [String: Any])?["code"] as? Int { tally.codes[code, default: 0] += 1 }
            if (message["result"] as? [String: Any])?["isError"] as? Bool == true { tally.toolErrors += 1 }
        }
        if nulls != expectedNulls {
            tally.failures.append("batch \(batch): \(nulls) null-id answers for \(expectedNulls) unreadable requests")
        }
    }

    /// Why an answer breaks the contract: an internal error, a non-client code, or an INTERNAL tool error.
    static func problem(_ message: [String: Any]) -> String? {
        guard message["jsonrpc"] as? String == "2.0" else { return "not JSON-RPC 2.0" }
        if let error = message["error"] as? [String: Any] {
            let code = error["code"] as? Int
            guard let code, ProtocolLimitsTests.clientErrorCodes.contains(code) else { return "error code \(String(describing: code))" }
            return nil
        }
        guard let result = message["result"] as? [String: Any] else { return "neither result nor error" }
        if result["isError"] as? Bool == true {
            let code = ((result["structuredContent"] as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
            if code == nil || code == "INTERNAL" { return "tool error \(String(describing: code))" }
        }
        return nil
    }

    /// A message read on the client's queue, handed back whole.
    struct Unchecked: @unchecked Sendable {
        let message: [String: Any]
        let afterSentinel: Bool
    }
}

// MARK: - Frames

/// One line to send and what the server must do with it.
struct FuzzFrame: Sendable {
    enum Expectation: Sendable, Equatable {
        /// One answer carrying this id (``FuzzFrame/key(_:)`` form).
        case answer(String)
        /// One answer with `"id": null`: the frame's id cannot be read.
        case nullAnswer
        /// No answer: a notification or a response.
        case silent
    }

    let kind: String
    let bytes: Data
    let expect: Expectation

    var preview: String { String(decoding: bytes.prefix(160), as: UTF8.self) }

    /// An id as a comparable key: `n:5`, `s:abc`; nil for null or anything that is not an id.
    static func key(_ id: Any?) -> String? {
        switch id {
        case let string as String: "s:\(string)"
        case let number as NSNumber: "n:\(number.int64Value)"
        default: nil
        }
    }
}

/// A JSON value rendered exactly as the generator means it (member order, escapes, raw fragments).
indirect enum FuzzJSON {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([FuzzJSON])
    case object([(String, FuzzJSON)])
    /// Bytes written as they are: numbers no Swift type holds, or broken JSON.
    case raw(String)

    func render(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "0"
        case .string(let value): Self.quote(value, into: &out)
        case .raw(let text): out += text
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.render(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.quote(key, into: &out)
                out += ":"
                value.render(into: &out)
            }
            out += "}"
        }
    }

    var text: String {
        var out = ""
        render(into: &out)
        return out
    }

    static func quote(_ string: String, into out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// A reproducible source of malformed (and a few well-formed) frames.
struct FrameGenerator {
    /// SplitMix64: tiny, fast, and the same sequence on every platform for a given seed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    var random: SplitMix64
    var counter: Int
    let tools = BridgeOperation.allCases.map(\.rawValue)
    /// Argument names the v1 tools know, without `wait_seconds`: a valid long-poll would hold its answer back.
    let fields = [
        "thread_id", "body", "kind", "to", "payload", "title", "participants", "limit", "after_seq", "seq", "action",
        "reason", "idempotency_key", "schema_version", "presence", "human_input", "runtime", "display_name", "status",
        "page_token", "action_class", "resource", "summary", "risk", "decision", "ticket_id", "message", "handle",
        "role", "autonomous", "reply_to_seq", "note", "target", "workdir", "session_id", "managed", "member_only",
    ]
    /// Without `tools/list`: the SDK turns its answer (every tool's schemas) into `MCP.Value`, about 50 ms of CPU
    /// per call in a debug build, so the generator sends it rarely and mostly with params the gate refuses.
    let methods = ["initialize", "ping", "tools/call", "resources/list", "prompts/get", "", "tools/call/x"]

    /// - Parameter firstID: where this generator's ids start, so two generators never share one.
    init(seed: UInt64, firstID: Int) {
        random = SplitMix64(state: seed)
        counter = firstID
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }

    /// A fresh id, a string or an integer, with its key.
    mutating func freshID() -> (FuzzJSON, String) {
        counter += 1
        if chance(50) { return (.int(Int64(counter)), "n:\(counter)") }
        let text = "f-\(counter)" + (chance(10) ? "-ü∑🙂" : "")
        return (.string(text), "s:\(text)")
    }

    /// Ids the SDK cannot read back as a request id.
    mutating func badID() -> FuzzJSON {
        pick([
            .null, .double(1.5), .bool(true), .bool(false), .object([]), .array([]), .array([.int(1)]),
            .object([("a", .int(1))]), .raw("99999999999999999999"), .double(-0.25),
        ])
    }

    mutating func string() -> String {
        switch Int.random(in: 0..<10, using: &random) {
        case 0 where chance(10): return String(repeating: pick(["x", "é", "🙂", "\u{0}"]), count: pick([40_000, 70_000, 150_000]))
        case 1: return "nul \u{0} here"
        case 2: return ""
        case 3: return UUID().uuidString
        case 4: return "data:text/plain;base64,aGVsbG8="
        case 5: return "\u{FFFF}\u{FEFF}\u{202E}"
        default: return String((0..<Int.random(in: 1...40, using: &random)).map { _ in pick(Array("abcXYZ_-09 ")) })
        }
    }

    /// Any JSON value, at most `depth` levels deep.
    mutating func value(depth: Int) -> FuzzJSON {
        let kind = Int.random(in: 0..<(depth > 1 ? 10 : 7), using: &random)
        switch kind {
        case 0: return .null
        case 1: return .bool(chance(50))
        case 2: return .int(pick([0, -1, 1, 42, Int64.max, Int64.min, 4_294_967_296]))
        case 3: return .double(pick([0.5, -1e300, 1e300, 3.14, -0.0]))
        case 4: return .raw(pick(["123456789012345678901234567890", "1E3", "-0", "0.0000001"]))
        case 5, 6: return .string(string())
        case 7: return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in value(depth: depth - 1) })
        case 8 where chance(20): return nestedArrays(Int.random(in: 1..<max(2, depth), using: &random))
        default:
            return .object((0..<Int.random(in: 0...4, using: &random)).map { _ in (chance(70) ? pick(fields) : string(), value(depth: depth - 1)) })
        }
    }

    func nestedArrays(_ depth: Int) -> FuzzJSON {
        .raw(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
    }

    /// Tool arguments: known fields with values of any type, unknown fields, occasionally deep ones.
    mutating func arguments() -> FuzzJSON {
        var members: [(String, FuzzJSON)] = []
        var keys = Set<String>()
        for _ in 0..<Int.random(in: 0...5, using: &random) {
            let key = chance(85) ? pick(fields) : "x_" + string().prefix(20)
            guard keys.insert(key).inserted else { continue }
            members.append((key, value(depth: 5)))
        }
        // Nesting within the limit: top object, params, arguments, member = 4 levels before these arrays.
        if chance(5) { members.append(("deep_\(counter)", nestedArrays(Int.random(in: 10...60, using: &random)))) }
        return .object(members)
    }

    mutating func params(for method: String) -> FuzzJSON? {
        switch Int.random(in: 0..<8, using: &random) {
        case 0: return nil
        case 1: return pick([.array([]), .array([.int(1)]), .string("x"), .int(3), .bool(true), .null, .double(2.5)])
        case 2: return .object([("name", value(depth: 2)), ("arguments", value(depth: 3))])
        case 3: return .object([("protocolVersion", value(depth: 2)), ("capabilities", value(depth: 3)), ("clientInfo", value(depth: 3))])
        case 4: return .object([("cursor", value(depth: 2))])
        case 5: return .object([("_meta", value(depth: 3)), ("name", .string(pick(tools)))])
        default: return .object([("name", .string(chance(90) ? pick(tools) : "v1_" + string())), ("arguments", arguments())])
        }
    }

    func frame(_ kind: String, _ members: [(String, FuzzJSON)], _ expect: FuzzFrame.Expectation, suffix: String = "") -> FuzzFrame {
        FuzzFrame(kind: kind, bytes: Data((FuzzJSON.object(members).text + suffix).utf8), expect: expect)
    }

    /// A request with a readable id; everything else about it may be wrong.
    mutating func request(
        _ kind: String,
        method: FuzzJSON,
        params: FuzzJSON?,
        jsonrpc: FuzzJSON? = .string("2.0"),
        extra: [(String, FuzzJSON)] = []
    ) -> FuzzFrame {
        let (id, key) = freshID()
        var members: [(String, FuzzJSON)] = []
        if let jsonrpc { members.append(("jsonrpc", jsonrpc)) }
        members.append(("id", id))
        members.append(("method", method))
        if let params { members.append(("params", params)) }
        members += extra
        if chance(30) { members.shuffle(using: &random) }
        return frame(kind, members, .answer(key), suffix: chance(5) ? "\r" : "")
    }

    /// A line over the 8 MiB limit, answered with a null id whatever it holds.
    mutating func oversizeLine() -> FuzzFrame {
        var bytes = Data(#"{"jsonrpc":"2.0","id":"oversize","method":"ping","params":{"pad":""#.utf8)
        bytes.append(Data(repeating: UInt8(ascii: "a"), count: 8 * 1024 * 1024 + Int.random(in: 1...100_000, using: &random)))
        return FuzzFrame(kind: "oversize", bytes: bytes, expect: .nullAnswer)
    }

    mutating func next() -> FuzzFrame {
        var roll = Int.random(in: 0..<100, using: &random)
        // One frame in eight is a tool call: through the SDK's `MCP.Value` each costs milliseconds in a debug
        // build, where a refusal at the gate costs microseconds.
        if roll < 30, chance(60) { roll = Int.random(in: 30..<100, using: &random) }
        switch roll {
        case 0..<30:
            // Tool calls with malformed arguments: the input with the most code behind it.
            return request(
                "tool arguments",
                method: .string("tools/call"),
                params: .object([("name", .string(pick(tools))), ("arguments", arguments())])
            )
        case 30..<42:
            let method = pick(methods)
            return request("params for \(method)", method: .string(method), params: params(for: method))
        case 42..<47:
            return request(
                "bad jsonrpc",
                method: .string(pick(methods + ["tools/list"])),
                params: params(for: "ping"),
                jsonrpc: pick([nil, .string("1.0"), .double(2.0), .null, .string(""), .array([])])
            )
        case 47..<51:
            return request("bad method", method: pick([.int(5), .null, .object([]), .array([.string("ping")]), .bool(true)]), params: nil)
        case 51..<54:
            return request("request and response", method: .string("ping"), params: nil, extra: [(pick(["result", "error"]), value(depth: 2))])
        case 54..<58:
            return request(
                "unknown members",
                method: .string("ping"),
                params: .object([("x", value(depth: 3))]),
                extra: [("extra", value(depth: 3)), ("\u{0}", .int(1))]
            )
        case 58..<63:
            // Too deep: in params (-32602), elsewhere (-32600); the id may come after the deep part.
            let depth = chance(10) ? 10_000 : Int.random(in: 62...3_000, using: &random)
            let deepPart = nestedArrays(depth)
            return request(
                "deep \(depth)",
                method: .string(pick(methods)),
                params: chance(50) ? .object([("a", deepPart)]) : nil,
                extra: chance(50) ? [("x", deepPart)] : []
            )
        case 63..<68:
            var members: [(String, FuzzJSON)] = [("jsonrpc", .string("2.0")), ("id", badID()), ("method", .string(pick(methods)))]
            if chance(50) { members.append(("params", params(for: "ping") ?? .object([]))) }
            return frame("bad id", members, .nullAnswer)
        case 68..<72:
            // Not JSON at all, or broken JSON.
            var valid = request("truncated", method: .string("ping"), params: .object([("a", value(depth: 3))])).bytes
            if valid.last == UInt8(ascii: "\r") { valid.removeLast() }
            let broken: Data =
                switch Int.random(in: 0..<5, using: &random) {
                case 0: valid.prefix(Int.random(in: 1..<valid.count, using: &random))
                case 1: valid + Data(" x".utf8)
                case 2: Data(pick(["nope", "{", "}", "{]", "{\"a\":}", "{'a':1}", "{\"a\":1,}", "   ", "\t"]).utf8)
                case 3: Data((0..<Int.random(in: 1...64, using: &random)).map { _ in UInt8.random(in: 0x0B...0xFF, using: &random) })
                default:
                    Data(
                        #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"n":\#(pick(["1e400", "-1e999", "NaN", "Infinity", "0x10", "01"]))}}"#
                            .utf8
                    )
                }
            // A random byte string could open with `[` or `{`; either way it is answered with a null id.
            return FuzzFrame(kind: "broken JSON", bytes: broken, expect: .nullAnswer)
        case 72..<76:
            var bytes = Data(
                #"{"jsonrpc":"2.0","id":"utf8-\#(counter)","method":"tools/call","params":{"name":"v1_whoami","arguments":{"body":"#.utf8
            )
            counter += 1
            bytes.append(
                contentsOf: pick([
                    [0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22],
                    Array(#""\ud800""#.utf8), Array(#""\udc00x""#.utf8),
                ])
            )
            bytes.append(Data("}}}".utf8))
            return FuzzFrame(kind: "invalid UTF-8", bytes: bytes, expect: .nullAnswer)
        case 76..<80:
            let top: FuzzJSON = pick([.int(42), .string("ping"), .null, .bool(true), .double(1.5)])
            let batch: FuzzJSON = .array(
                (0..<Int.random(in: 0...3, using: &random)).map { _ in
                    .object([("jsonrpc", .string("2.0")), ("id", .int(Int64(counter))), ("method", .string("ping"))])
                }
            )
            return FuzzFrame(kind: "not an object", bytes: Data((chance(60) ? batch : top).text.utf8), expect: .nullAnswer)
        case 80..<88:
            // Notifications, well-formed or not: never answered.
            var members: [(String, FuzzJSON)] = [("jsonrpc", chance(80) ? .string("2.0") : .string("1.0"))]
            members.append(
                (
                    "method",
                    chance(90) ? .string(pick(["notifications/initialized", "notifications/cancelled", "notifications/progress", "x/y"])) : .int(3)
                )
            )
            if chance(60) {
                members.append(
                    ("params", chance(70) ? .object([("requestId", pick([.int(1), .string("x"), .object([]), .null]))]) : value(depth: 3))
                )
            }
            if chance(10) { members.append(("params_deep", nestedArrays(Int.random(in: 65...2_000, using: &random)))) }
            return frame("notification", members, .silent)
        case 88..<95:
            // Responses: well-formed ones are consumed silently, malformed ones refused with their id.
            let (id, key) = freshID()
            switch Int.random(in: 0..<6, using: &random) {
            case 0: return frame("response", [("jsonrpc", .string("2.0")), ("id", id), ("result", value(depth: 3))], .silent)
            case 1:
                return frame(
                    "error response",
                    [("jsonrpc", .string("2.0")), ("id", id), ("error", .object([("code", .int(-1)), ("message", .string("no"))]))],
                    .silent
                )
            case 2: return frame("response without result", [("jsonrpc", .string("2.0")), ("id", id)], .answer(key))
            case 3:
                return frame(
                    "response with both",
                    [
                        ("jsonrpc", .string("2.0")), ("id", id), ("result", .null),
                        ("error", .object([("code", .int(1)), ("message", .string("x"))])),
                    ],
                    .answer(key)
                )
            case 4:
                return frame(
                    "malformed error",
                    [
                        ("jsonrpc", .string("2.0")), ("id", id),
                        ("error", pick([.string("x"), .object([("code", .string("1"))]), .object([("message", .string("x"))]), .null])),
                    ],
                    .answer(key)
                )
            default: return frame("bad-id response", [("jsonrpc", .string("2.0")), ("id", badID()), ("result", .int(1))], .nullAnswer)
            }
        case 95..<97:
            return FuzzFrame(kind: "empty line", bytes: Data(), expect: .silent)
        case 97:
            let params: FuzzJSON? =
                chance(90)
                ? pick([.array([]), .string("x"), .int(1), .null, .object([("cursor", pick([.int(5), .null, .array([]), .object([])]))])])
                : pick([nil, .object([("cursor", .string(string()))])])
            return request("params for tools/list", method: .string("tools/list"), params: params)
        default:
            // A few well-formed requests among the garbage.
            return request(
                "valid",
                method: .string(pick(["ping", "tools/call"])),
                params: .object([("name", .string("v1_whoami")), ("arguments", .object([]))])
            )
        }
    }
}
