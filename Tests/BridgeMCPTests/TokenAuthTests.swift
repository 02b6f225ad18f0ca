import BridgeTestSupport
import Crypto
import Foundation
import Testing

/// Token mode through the real binary: `token keygen`/`token issue`, and `serve` checking the token on every call.
@Suite struct TokenAuthTests {
    /// A scratch folder with a fresh HS256 key made by `agent-bridge token keygen`.
    struct KeyFolder {
        let directory: String
        var keyFile: String { "\(directory)/token.key" }
        var secret: String { (try? String(contentsOfFile: keyFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }

        static func make(algorithm: String = "hs256") async throws -> KeyFolder {
            let folder = KeyFolder(directory: "\(NSTemporaryDirectory())agent-bridge-keys-\(UUID().uuidString.prefix(8).lowercased())")
            let made = try await CommandRun.agentBridge(["token", "keygen", "--algorithm", algorithm, "--token-key-file", folder.keyFile])
            #expect(made.status == 0, "\(made.stderr)")
            return folder
        }

        func issue(_ handle: String, role: String = "coordinator", workspace: String, ttl: String = "1h") async throws -> String {
            let issued = try await CommandRun.agentBridge([
                "token", "issue", "--participant", handle, "--role", role, "--workspace", workspace, "--ttl", ttl, "--token-key-file", keyFile,
            ])
            #expect(issued.status == 0, "\(issued.stderr)")
            return issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Builds a compact JWT by hand, so tests can forge what jwt-kit itself would never produce.
    static func forge(header: [String: Any] = ["alg": "HS256", "typ": "JWT"], claims: [String: Any], secret: String?) throws -> String {
        func encode(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let signingInput =
            encode(try JSONSerialization.data(withJSONObject: header)) + "." + encode(try JSONSerialization.data(withJSONObject: claims))
        guard let secret else { return signingInput + "." }
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return signingInput + "." + encode(Data(signature))
    }

    static func claims(_ handle: String = "alice", workspace: String = "alpha", expiresIn: TimeInterval = 3600) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        return ["sub": handle, "ws": workspace, "role": "coordinator", "iat": now, "exp": now + Int(expiresIn), "aud": "agent-bridge"]
    }

    /// A token-mode `serve` for the deployment of `workspace`.
    func serve(
        _ database: TestDatabase,
        token: String?,
        keyFile: String,
        workspace: String = "alpha",
        extra: [String: String] = [:]
    ) async throws -> MCPClient {
        var environment = ["AGENT_BRIDGE_TOKEN_KEY_FILE": keyFile, "AGENT_BRIDGE_AUTH": "token", "AGENT_BRIDGE_WORKSPACE": workspace]
        if let token { environment["AGENT_BRIDGE_TOKEN"] = token }
        environment.merge(extra) { $1 }
        let client = try MCPClient(databaseURL: database.url, participant: nil, extraEnvironment: environment)
        _ = try await client.initialize()
        return client
    }

    func expectRefused(
        _ result: (isError: Bool, structured: [String: Any], text: String),
        code: String,
        reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = result.structured["error"] as? [String: Any]
        #expect(result.isError, "\(result.text)", sourceLocation: sourceLocation)
        #expect(error?["code"] as? String == code, "\(result.text)", sourceLocation: sourceLocation)
        #expect(error?["reason"] as? String == reason, "\(result.text)", sourceLocation: sourceLocation)
    }

    @Test func anIssuedTokenIdentifiesTheCallerAndExpiresMidSession() async throws {
        let database = try await TestDatabase.create()
        let keys = try await KeyFolder.make()
        defer { keys.remove() }
        let issued = try await keys.issue("alice", role: "reviewer", workspace: "alpha")
        let client = try await serve(database, token: issued, keyFile: keys.keyFile)
        let whoami = try await client.call("v1_whoami")
        #expect(!whoami.isError, "\(whoami.text)")
        #expect(whoami.structured["participant"] as? String == "alice", "\(whoami.text)")
        #expect(whoami.structured["workspace"] as? String == "alpha", "\(whoami.text)")
        #expect(whoami.structured["role"] as? String == "reviewer", "\(whoami.text)")
        #expect(whoami.structured["auth_mode"] as? String == "token", "\(whoami.text)")
        #expect(await client.closeAndWait() == 0)

        // Checked on every call, not once: a token that lapses during the session stops working at once.
        let expiresIn: TimeInterval = 4
        let shortLived = try Self.forge(claims: Self.claims(expiresIn: expiresIn), secret: keys.secret)
        let session = try await serve(database, token: shortLived, keyFile: keys.keyFile)
        let before = try await session.call("v1_thread_create", ["title": "before expiry"])
        #expect(!before.isError, "a fresh token works: \(before.text)")
        try await Task.sleep(for: .seconds(expiresIn + 1.5))
        expectRefused(try await session.call("v1_thread_list"), code: "UNAUTHENTICATED", reason: "TOKEN_EXPIRED")
        #expect(await session.closeAndWait() == 0)
    }

    @Test func forgedMalformedAndMisdirectedTokensAreRefused() async throws {
        let database = try await TestDatabase.create()
        let keys = try await KeyFolder.make()
        defer { keys.remove() }
        let secret = keys.secret
        let valid = try Self.forge(claims: Self.claims(), secret: secret)
        var tampered = valid.split(separator: ".").map(String.init)
        tampered[1] = try Self.forge(claims: Self.claims("mallory"), secret: secret).split(separator: ".").map(String.init)[1]
        var missingWorkspace = Self.claims()
        missingWorkspace.removeValue(forKey: "ws")
        var wrongAudience = Self.claims()
        wrongAudience["aud"] = "some-other-service"
        var unknownRole = Self.claims()
        unknownRole["role"] = "superuser"

        let cases: [(String, String, String)] = [
            ("tampered payload", tampered.joined(separator: "."), "TOKEN_INVALID"),
            ("wrong secret", try Self.forge(claims: Self.claims(), secret: String(repeating: "x", count: 40)), "TOKEN_INVALID"),
            ("alg none", try Self.forge(header: ["alg": "none", "typ": "JWT"], claims: Self.claims(), secret: nil), "TOKEN_INVALID"),
            ("missing ws claim", try Self.forge(claims: missingWorkspace, secret: secret), "TOKEN_INVALID"),
            ("wrong audience", try Self.forge(claims: wrongAudience, secret: secret), "TOKEN_INVALID"),
            ("unknown role", try Self.forge(claims: unknownRole, secret: secret), "TOKEN_INVALID"),
            ("not a JWT", "hello", "TOKEN_INVALID"),
            ("expired", try Self.forge(claims: Self.claims(expiresIn: -60), secret: secret), "TOKEN_EXPIRED"),
        ]
        for (name, token, reason) in cases {
            let client = try await serve(database, token: token, keyFile: keys.keyFile)
            let result = try await client.call("v1_thread_create", ["title": "should not exist"])
            #expect(result.isError, "\(name) must be refused")
            let error = result.structured["error"] as? [String: Any]
            #expect(error?["code"] as? String == "UNAUTHENTICATED", "\(name): \(result.text)")
            #expect(error?["reason"] as? String == reason, "\(name): \(result.text)")
            #expect(await client.closeAndWait() == 0)
        }
        // The valid twin of those tokens works, and nothing the refused calls attempted was written.
        let client = try await serve(database, token: valid, keyFile: keys.keyFile)
        let listed = try await client.call("v1_thread_list")
        #expect(!listed.isError, "\(listed.text)")
        #expect((listed.structured["threads"] as? [Any])?.isEmpty == true, "\(listed.text)")
        #expect(await client.closeAndWait() == 0)

        let none = try await serve(database, token: nil, keyFile: keys.keyFile)
        expectRefused(try await none.call("v1_whoami"), code: "UNAUTHENTICATED", reason: "TOKEN_MISSING")
        #expect(await none.closeAndWait() == 0)
    }

    @Test func eddsaKeysSignAndVerifyAndRefuseAnHS256TokenMadeFromThePublicKey() async throws {
        let database = try await TestDatabase.create()
        let keys = try await KeyFolder.make(algorithm: "eddsa")
        defer { keys.remove() }
        let issued = try await keys.issue("carol", workspace: "alpha")
        var header = String(issued.prefix { $0 != "." }).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        header += String(repeating: "=", count: (4 - header.count % 4) % 4)
        let alg = (try? JSONSerialization.jsonObject(with: Data(base64Encoded: header) ?? Data()) as? [String: Any])?["alg"] as? String
        #expect(alg == "EdDSA", "token issue signs with the key file's algorithm")
        let client = try await serve(database, token: issued, keyFile: keys.keyFile)
        #expect(try await client.call("v1_whoami").isError == false)
        #expect(await client.closeAndWait() == 0)

        // The classic confusion attack: an HS256 token whose "secret" is the verifier's key text.
        let confused = try Self.forge(claims: Self.claims("carol"), secret: keys.secret)
        let attacker = try await serve(database, token: confused, keyFile: keys.keyFile)
        expectRefused(try await attacker.call("v1_whoami"), code: "UNAUTHENTICATED", reason: "TOKEN_INVALID")
        #expect(await attacker.closeAndWait() == 0)
    }

    @Test func anUnreadableKeyFailsClosedAndRecovers() async throws {
        let database = try await TestDatabase.create()
        let keys = try await KeyFolder.make()
        defer { keys.remove() }
        let secret = keys.secret
        let client = try await serve(database, token: try Self.forge(claims: Self.claims(), secret: secret), keyFile: keys.keyFile)
        #expect(try await client.call("v1_whoami").isError == false)

        try FileManager.default.removeItem(atPath: keys.keyFile)
        let missing = try await client.call("v1_thread_create", ["title": "while the key is gone"])
        expectRefused(missing, code: "UNAVAILABLE", reason: "TOKEN_VALIDATION_UNAVAILABLE")
        #expect((missing.structured["error"] as? [String: Any])?["retryable"] as? Bool == true)

        try "short".write(toFile: keys.keyFile, atomically: true, encoding: .utf8)
        expectRefused(try await client.call("v1_whoami"), code: "UNAVAILABLE", reason: "TOKEN_VALIDATION_UNAVAILABLE")

        try (secret + "\n").write(toFile: keys.keyFile, atomically: true, encoding: .utf8)
        #expect(try await client.call("v1_whoami").isError == false, "the same process accepts calls again once the key is back")
        let listed = try await client.call("v1_thread_list")
        #expect((listed.structured["threads"] as? [Any])?.isEmpty == true, "nothing was written while validation was unavailable")
        #expect(await client.closeAndWait() == 0)
    }

    @Test func workspacesAreIsolated() async throws {
        let database = try await TestDatabase.create()
        let keys = try await KeyFolder.make()
        defer { keys.remove() }
        // The same handle in two workspaces: two different participants who share nothing.
        let alpha = try await serve(database, token: try await keys.issue("alice", workspace: "alpha"), keyFile: keys.keyFile)
        let beta = try await serve(database, token: try await keys.issue("alice", workspace: "beta"), keyFile: keys.keyFile, workspace: "beta")

        let secretTitle = "alpha-secret-plans"
        let created = try await alpha.call("v1_thread_create", ["title": secretTitle])
        let thread = try #require((created.structured["thread"] as? [String: Any])?["id"] as? String, "\(created.text)")
        #expect(try await alpha.call("v1_message_post", ["thread_id": thread, "body": "alpha-secret-body"]).isError == false)
        let requested = try await alpha.call(
            "v1_approval_request",
            [
                "thread_id": thread, "action_class": "fs_write", "resource": "alpha-secret-file", "summary": "alpha-secret-change",
            ]
        )
        let ticket = try #require((requested.structured["ticket"] as? [String: Any])?["id"] as? String, "\(requested.text)")

        let probes: [(String, [String: Any], String?)] = [
            ("v1_thread_get", ["thread_id": thread], "THREAD_NOT_FOUND"),
            ("v1_message_read", ["thread_id": thread], "THREAD_NOT_FOUND"),
            ("v1_message_post", ["thread_id": thread, "body": "hi"], "THREAD_NOT_FOUND"),
            ("v1_thread_join", ["thread_id": thread], "THREAD_NOT_FOUND"),
            ("v1_approval_get", ["ticket_id": ticket], "TICKET_NOT_FOUND"),
            ("v1_thread_list", [:], nil),
            ("v1_inbox", [:], nil),
            ("v1_approval_list", [:], nil),
        ]
        for (tool, arguments, reason) in probes {
            let result = try await beta.call(tool, arguments)
            #expect(!result.text.contains("alpha-secret"), "\(tool) leaked another workspace's data: \(result.text)")
            if let reason {
                #expect((result.structured["error"] as? [String: Any])?["reason"] as? String == reason, "\(tool): \(result.text)")
            } else {
                #expect(!result.isError, "\(tool): \(result.text)")
            }
        }

        // A deployment refuses a token for another workspace, and a token naming another participant than it was started for.
        let pinned = try await serve(database, token: try await keys.issue("bob", workspace: "beta"), keyFile: keys.keyFile, workspace: "alpha")
        let mismatch = try await pinned.call("v1_thread_get", ["thread_id": thread])
        expectRefused(mismatch, code: "PERMISSION_DENIED", reason: "WORKSPACE_MISMATCH")
        #expect(!mismatch.text.contains("alpha-secret"))
        let impostor = try await serve(
            database,
            token: try await keys.issue("bob", workspace: "alpha"),
            keyFile: keys.keyFile,
            extra: ["AGENT_BRIDGE_PARTICIPANT": "alice"]
        )
        expectRefused(try await impostor.call("v1_thread_get", ["thread_id": thread]), code: "PERMISSION_DENIED", reason: "IDENTITY_MISMATCH")
        for client in [alpha, beta, pinned, impostor] {
            #expect(await client.closeAndWait() == 0)
        }
    }
}
