import BridgeCore
import BridgeService
import Foundation
import Logging
import Testing

/// `serve`'s identity decisions, local and token mode, without a database: each call's caller or the error
/// it is refused with, and the settings `serve` refuses to start with.
@Suite struct CallerIdentityTests {
    static let logger = Logger(label: "caller-identity-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A scratch HS256 key file, and tokens signed with it.
    struct KeyFile {
        let directory = "\(NSTemporaryDirectory())caller-identity-\(UUID().uuidString.prefix(8).lowercased())"
        var path: String { "\(directory)/token.key" }
        var authority: TokenAuthority { TokenAuthority(keyFile: path) }

        init() throws {
            try TokenAuthority.generateKeyFile(at: path, algorithm: .hs256)
        }

        func token(
            _ handle: String,
            role: Role = .executioner,
            workspace: String = "local",
            ttl: Duration = .seconds(3600),
            issuedAt: Date = Date()
        ) async throws -> String {
            try await authority.issue(handle: handle, role: role, workspace: workspace, ttl: ttl, now: issuedAt)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func make(_ configuration: CallerIdentity.Configuration) throws -> CallerIdentity {
        try CallerIdentity(configuration: configuration, logger: logger)
    }

    /// The error a call would be refused with, nil when it resolves.
    static func refusal(_ identity: CallerIdentity) async -> BridgeError? {
        do throws(BridgeError) {
            _ = try await identity.resolve()
            return nil
        } catch {
            return error
        }
    }

    static func configurationError(_ configuration: CallerIdentity.Configuration) -> String? {
        do throws(CallerIdentity.ConfigurationError) {
            _ = try CallerIdentity(configuration: configuration, logger: logger)
            return nil
        } catch {
            return error.message
        }
    }

    // MARK: - Local mode

    @Test func localModeWithoutAParticipantRefusesEveryCall() async throws {
        let identity = try Self.make(.init(tokenKeyFile: "/nonexistent/token.key"))
        #expect(identity.mode == .local)
        let error = try #require(await Self.refusal(identity))
        #expect(error.code == .unauthenticated)
        #expect(error.reason == .identityMissing)
        #expect(error.message == "No participant identity: start serve with --participant HANDLE or set AGENT_BRIDGE_PARTICIPANT.")
    }

    @Test func localModeIsTheServedWorkspaceAndTheRoleGiven() async throws {
        let identity = try Self.make(.init(participant: "reviewer", role: "reviewer", workspace: "acme", tokenKeyFile: "/nonexistent"))
        #expect(try await identity.resolve() == Identity(workspace: "acme", handle: "reviewer", role: .reviewer))
        let defaulted = try Self.make(.init(participant: "lead", tokenKeyFile: "/nonexistent"))
        #expect(try await defaulted.resolve() == Identity(workspace: "local", handle: "lead", role: .coordinator))
    }

    @Test func flagsWinOverTheEnvironmentAndEmptyVariablesCountAsUnset() async throws {
        let environment = [
            "AGENT_BRIDGE_PARTICIPANT": "from-env", "AGENT_BRIDGE_ROLE": "observer", "AGENT_BRIDGE_WORKSPACE": "env-ws",
            "AGENT_BRIDGE_AUTH": "", "AGENT_BRIDGE_TOKEN": "",
        ]
        let fromEnvironment = CallerIdentity.Configuration(
            participant: nil,
            role: nil,
            workspace: nil,
            auth: nil,
            tokenKeyFile: "k",
            environment: environment
        )
        #expect(fromEnvironment.participant == "from-env")
        #expect(fromEnvironment.role == "observer")
        #expect(fromEnvironment.workspace == "env-ws")
        #expect(fromEnvironment.auth == nil)
        #expect(fromEnvironment.token == nil)
        #expect(try await Self.make(fromEnvironment).resolve() == Identity(workspace: "env-ws", handle: "from-env", role: .observer))

        let fromFlags = CallerIdentity.Configuration(
            participant: "flagged",
            role: "approver",
            workspace: "flag-ws",
            auth: "local",
            tokenKeyFile: "k",
            environment: environment
        )
        #expect(try await Self.make(fromFlags).resolve() == Identity(workspace: "flag-ws", handle: "flagged", role: .approver))

        let nothing = CallerIdentity.Configuration(participant: nil, role: nil, workspace: nil, auth: nil, tokenKeyFile: "k", environment: [:])
        #expect(nothing.workspace == "local")
    }

    @Test func malformedSettingsStopStartUpWithTheOperatorsMessage() {
        #expect(
            Self.configurationError(.init(participant: "Bad Handle", tokenKeyFile: "k"))
                == "participant \"Bad Handle\" is not a valid handle: use 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit."
        )
        #expect(
            Self.configurationError(.init(participant: "ok", role: "boss", tokenKeyFile: "k"))?
                .hasPrefix("role \"boss\" is not one of: coordinator, ") == true
        )
        #expect(Self.configurationError(.init(participant: "ok", auth: "oauth", tokenKeyFile: "k")) == "auth \"oauth\" is not local or token.")
        // Token mode takes the role from the token, so a bad --role does not matter there.
        #expect(Self.configurationError(.init(participant: "ok", role: "boss", auth: "token", tokenKeyFile: "k")) == nil)
    }

    // MARK: - Token mode

    @Test func aTokenTurnsTokenModeOnAndNamesTheCaller() async throws {
        let key = try KeyFile()
        defer { key.remove() }
        let token = try await key.token("exec", role: .executioner)
        let identity = try Self.make(.init(role: "operator", token: token, tokenKeyFile: key.path))
        #expect(identity.mode == .token)
        #expect(try await identity.resolve() == Identity(workspace: "local", handle: "exec", role: .executioner))
    }

    @Test func tokenModeWithoutATokenRefusesEveryCall() async throws {
        let identity = try Self.make(.init(auth: "token", tokenKeyFile: "/nonexistent/token.key"))
        #expect(identity.mode == .token)
        let error = try #require(await Self.refusal(identity))
        #expect(error.code == .unauthenticated)
        #expect(error.reason == .tokenMissing)
    }

    @Test func aTokenForAnotherWorkspaceIsRefused() async throws {
        let key = try KeyFile()
        defer { key.remove() }
        let token = try await key.token("exec", workspace: "other")
        let error = try #require(await Self.refusal(try Self.make(.init(workspace: "local", token: token, tokenKeyFile: key.path))))
        #expect(error.code == .permissionDenied)
        #expect(error.reason == .workspaceMismatch)
        #expect(error.message == "The token is for another workspace than the one this server serves.")
    }

    @Test func aTokenForAnotherParticipantThanTheOneStartedForIsRefused() async throws {
        let key = try KeyFile()
        defer { key.remove() }
        let token = try await key.token("exec")
        let error = try #require(await Self.refusal(try Self.make(.init(participant: "reviewer", token: token, tokenKeyFile: key.path))))
        #expect(error.code == .permissionDenied)
        #expect(error.reason == .identityMismatch)
        #expect(try await Self.make(.init(participant: "exec", token: token, tokenKeyFile: key.path)).resolve().handle == "exec")
    }

    @Test func anExpiredTokenIsRefused() async throws {
        let key = try KeyFile()
        defer { key.remove() }
        let token = try await key.token("exec", ttl: .seconds(60), issuedAt: Date().addingTimeInterval(-3600))
        let error = try #require(await Self.refusal(try Self.make(.init(token: token, tokenKeyFile: key.path))))
        #expect(error.code == .unauthenticated)
        #expect(error.reason == .tokenExpired)
        #expect(error.details["expired_at"] != nil)
    }

    @Test func aMissingKeyFileFailsClosedOnEveryCall() async throws {
        let key = try KeyFile()
        let token = try await key.token("exec")
        let identity = try Self.make(.init(token: token, tokenKeyFile: key.path))
        #expect(try await identity.resolve().handle == "exec")
        key.remove()
        let error = try #require(await Self.refusal(identity))
        #expect(error.code == .unavailable)
        #expect(error.reason == .tokenValidationUnavailable)
    }
}
