import BridgeTestSupport
import Foundation
import Testing

/// The JSON-RPC limits of `agent-bridge serve`, seen by a client over its pipes: every refused frame gets one
/// error with a client-error code (never `-32603`), and the session goes on serving.
@Suite struct ProtocolLimitsTests {
    static let clientErrorCodes: Set<Int> = [-32700, -32600, -32601, -32602]

    func started() async throws -> MCPClient {
        let database = try await TestDatabase.create()
        let client = try MCPClient(databaseURL: database.url, participant: "alice")
        _ = try await client.initialize()
        return client
    }

    /// Sends one line as it is and returns the next message the server writes.
    func exchange(_ client: MCPClient, _ line: String) async throws -> [String: Any] {
        try await exchange(client, Data(line.utf8))
    }

    func exchange(_ client: MCPClient, _ line: Data) async throws -> [String: Any] {
        try await client.blocking { client in
            client.sendLineBlocking(line)
            return try client.readMessageBlocking(timeout: .seconds(30))
        }
    }

    func error(_ message: [String: Any]) -> (code: Int, message: String)? {
        guard let error = message["error"] as? [String: Any], let code = error["code"] as? Int else { return nil }
        return (code, error["message"] as? String ?? "")
    }

    func expectStillServing(_ client: MCPClient) async throws {
        let whoami = try await client.call("v1_whoami")
        #expect(!whoami.isError, "a valid call after the refusals: \(whoami.text)")
    }

    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    // MARK: - Nesting

    @Test func tenThousandLevelsOfNestingAreRefusedAtOnceWithoutGrowingMemory() async throws {
        let client = try await started()
        let frames: [(line: String, code: Int, id: Int?)] = [
            (#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"deep":\#(Self.nested(10_000))}}"#, -32602, 1),
            (#"{"jsonrpc":"2.0","method":"tools/call","x":\#(Self.nested(10_000)),"id":2}"#, -32600, 2),
            (#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"v1_whoami","arguments":{"a":\#(Self.nested(10_000))}}}"#, -32602, 3),
            (Self.nested(10_000), -32600, nil),
        ]
        for frame in frames {
            _ = try await exchange(client, frame.line)
        }
        let before = try client.residentKilobytes()
        var roundTrips: [Duration] = []
        for round in 0..<25 {
            for frame in frames {
                let started = ContinuousClock.now
                let answer = try await exchange(client, frame.line)
                if round > 0 { roundTrips.append(started.duration(to: .now)) }
                #expect(error(answer)?.code == frame.code, "\(answer)")
                #expect(error(answer)?.message.contains("64") == true || frame.id == nil, "\(answer)")
                if let id = frame.id { #expect(answer["id"] as? Int == id) } else { #expect(answer["id"] is NSNull) }
            }
        }
        let after = try client.residentKilobytes()
        let sorted = roundTrips.sorted()
        print("10,000-deep frame round trip: median \(sorted[sorted.count / 2]), max \(sorted.last!); RSS \(before) KB -> \(after) KB")
        // The bound is 50 ms; the assertion leaves room for a loaded 2-core CI machine running a debug build.
        #expect(sorted[sorted.count / 2] < .milliseconds(500))
        #expect(after - before < 5_000, "96 deep frames grew RSS from \(before) KB to \(after) KB")
        try await expectStillServing(client)
        #expect(await client.closeAndWait() == 0)
    }

    @Test func nestingUpToTheLimitIsServed() async throws {
        let client = try await started()
        // The top-level object is level 1, params level 2: 62 arrays inside make 64 levels.
        let answer = try await exchange(client, #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":\#(Self.nested(62))}}"#)
        #expect(answer["result"] != nil, "\(answer)")
        let deeper = try await exchange(client, #"{"jsonrpc":"2.0","id":2,"method":"ping","params":{"a":\#(Self.nested(63))}}"#)
        #expect(error(deeper)?.code == -32602, "\(deeper)")
        #expect(await client.closeAndWait() == 0)
    }

    // MARK: - Params

    @Test(arguments: [
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#, "params is required"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{}}}"#, "params.name is required"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":7}}"#, "params.name must be a string"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"v1_whoami","arguments":[]}}"#, "params.arguments must be an object"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"v1_whoami","arguments":"x"}}"#, "params.arguments must be an object"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"v1_whoami","arguments":null}}"#, "params.arguments must be an object"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"v1_whoami","_meta":3}}"#, "params._meta must be an object"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":[]}"#, "params must be an object"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"v1_nope","arguments":{}}}"#, "v1_nope"),
        (#"{"jsonrpc":"2.0","id":7,"method":"initialize"}"#, "params is required"),
        (#"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":5}}"#, "params.protocolVersion must be a string"),
        (#"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"clientInfo":"me"}}"#, "params.clientInfo"),
        (#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":5}}"#, "params.cursor must be a string"),
        (#"{"jsonrpc":"2.0","id":7,"method":"ping","params":"x"}"#, "params must be an object"),
        (#"{"jsonrpc":"2.0","id":7,"method":"ping","params":null}"#, "params must be an object"),
    ])
    func badParamsAreInvalidParamsNamingTheField(frame: String, fragment: String) async throws {
        let client = try await started()
        let answer = try await exchange(client, frame)
        #expect(error(answer)?.code == -32602, "\(answer)")
        #expect(error(answer)?.message.contains(fragment) == true, "\(answer)")
        #expect(answer["id"] as? Int == 7)
        try await expectStillServing(client)
        #expect(await client.closeAndWait() == 0)
    }

    @Test func everyHandledMethodRefusesEveryWrongKindOfParamsWithAClientError() async throws {
        let client = try await started()
        let methods = ["initialize", "ping", "tools/list", "tools/call", "resources/list", "no/such/method"]
        let wrongParams = ["[]", "[1]", "\"x\"", "0", "-1.5", "true", "null", "{\"name\":[]}", "{\"cursor\":{}}", "{\"protocolVersion\":[]}"]
        var id = 100
        for method in methods {
            for params in wrongParams {
                id += 1
                let answer = try await exchange(client, #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"#)
                #expect(answer["id"] as? Int == id, "\(method) \(params): \(answer)")
                let code = error(answer)?.code
                #expect(code.map(Self.clientErrorCodes.contains) ?? (answer["result"] != nil), "\(method) \(params): \(answer)")
                #expect(code != -32603, "\(method) \(params): \(answer)")
            }
        }
        try await expectStillServing(client)
        #expect(await client.closeAndWait() == 0)
    }

    // MARK: - Envelopes

    @Test(arguments: [
        ("not json", -32700),
        (#"{"jsonrpc":"2.0","id":5,"method":"ping""#, -32700),
        ("   ", -32700),
        ("42", -32600),
        (#""a string""#, -32600),
        ("null", -32600),
        ("[]", -32600),
        (#"[{"jsonrpc":"2.0","id":5,"method":"ping"}]"#, -32600),
        (#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":[5],"method":"ping"}"#, -32600),
        (#"{"jsonrpc":"2.0","method":"ping","id":5,"params":{"a":"\ud800"}}"#, -32700),
        (#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{"n":1e400}}"#, -32700),
    ])
    func unreadableFramesAreAnsweredWithANullID(frame: String, code: Int) async throws {
        let client = try await started()
        let answer = try await exchange(client, frame)
        #expect(error(answer)?.code == code, "\(answer)")
        #expect(answer["id"] is NSNull, "JSON-RPC answers what it cannot read with id null, not a made-up one: \(answer)")
        try await expectStillServing(client)
        #expect(await client.closeAndWait() == 0)
    }

    @Test func invalidUTF8IsAParseErrorWithANullID() async throws {
        let client = try await started()
        var frame = Data(#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{"a":""#.utf8)
        frame.append(contentsOf: [0xFF, 0xC0, 0x80])
        frame.append(contentsOf: Data(#""}}"#.utf8))
        let answer = try await exchange(client, frame)
        #expect(error(answer)?.code == -32700, "\(answer)")
        #expect(answer["id"] is NSNull)
        try await expectStillServing(client)
        #expect(await client.closeAndWait() == 0)
    }

    @Test(arguments: [
        (#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#, -32600),
        (#"{"id":5,"method":"ping"}"#, -32600),
        (#"{"jsonrpc":2,"id":5,"method":"ping"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":5,"method":5}"#, -32600),
        (#"{"jsonrpc":"2.0","id":5,"method":"ping","result":{}}"#, -32600),
        (#"{"jsonrpc":"2.0","id":5}"#, -32600),
        (#"{"jsonrpc":"2.0","id":5,"result":{},"error":{"code":1,"message":"x"}}"#, -32600),
        (#"{"jsonrpc":"2.0","id":5,"error":{"code":"x"}}"#, -32600),
        (#"{"jsonrpc":"2.0","id":"5","method":"nope"}"#, -32601),
    ])
    func badEnvelopesAreInvalidRequestsAnsweredWithTheirID(frame: String, code: Int) async throws {
        let client = try await started()
        let answer = try await exchange(client, frame)
        #expect(error(answer)?.code == code, "\(answer)")
        #expect(answer["id"] as? Int == 5 || answer["id"] as? String == "5", "\(answer)")
        #expect(await client.closeAndWait() == 0)
    }

    @Test func notificationsAndResponsesAreNeverAnswered() async throws {
        let client = try await started()
        let silent = [
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{}}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/cancelled"}"#,
            #"{"jsonrpc":"2.0","method":"notifications/whatever","params":[1]}"#,
            #"{"jsonrpc":"1.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","method":"notifications/deep","params":{"a":\#(Self.nested(500))}}"#,
            #"{"jsonrpc":"2.0","id":99,"result":{}}"#,
            #"{"jsonrpc":"2.0","id":98,"error":{"code":-32600,"message":"no"}}"#,
            #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"you sent garbage"}}"#,
        ]
        let answer = try await client.blocking { client in
            for line in silent { client.sendLineBlocking(Data(line.utf8)) }
            client.sendLineBlocking(Data(#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#.utf8))
            return try client.readMessageBlocking(timeout: .seconds(30))
        }
        #expect(answer["id"] as? String == "after", "the first answer is the ping's: \(answer)")
        #expect(await client.closeAndWait() == 0)
    }

    // MARK: - Line length

    @Test func anOversizeLineIsAnsweredAndDiscardedAndTheNextLineIsServed() async throws {
        let client = try await started()
        let limit = 8 * 1024 * 1024
        var huge = Data(#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""#.utf8)
        huge.append(Data(repeating: UInt8(ascii: "a"), count: limit))
        huge.append(Data(#""}}"#.utf8))
        let before = try client.residentKilobytes()
        for round in 0..<3 {
            let answers = try await client.blocking { client in
                client.sendLineBlocking(huge)
                client.sendLineBlocking(Data(#"{"jsonrpc":"2.0","id":"next-\#(round)","method":"ping"}"#.utf8))
                return [try client.readMessageBlocking(timeout: .seconds(60)), try client.readMessageBlocking(timeout: .seconds(60))]
            }
            #expect(error(answers[0])?.code == -32600, "\(answers[0])")
            #expect(error(answers[0])?.message.contains("\(limit)") == true, "the limit is in the message: \(answers[0])")
            #expect(answers[0]["id"] is NSNull)
            #expect(answers[1]["id"] as? String == "next-\(round)" && answers[1]["result"] != nil, "\(answers[1])")
        }
        let after = try client.residentKilobytes()
        // Discarded as it arrives: three lines of 8 MiB each do not cost 24 MiB.
        #expect(after - before < 20_000, "RSS grew from \(before) KB to \(after) KB")
        try await expectStillServing(client)
        #expect(await client.closeAndWait() == 0)
    }
}
