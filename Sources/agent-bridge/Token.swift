import ArgumentParser
import BridgeCore
import BridgeService
import BridgeStore
import Foundation

/// Where the token key lives; shared by `serve` (to verify) and `token` (to issue).
struct TokenKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("token-key-file"),
        help: ArgumentHelp(
            "The token signing key: an HS256 secret (text, 32+ bytes) or an Ed25519 PEM key. Default: $AGENT_BRIDGE_TOKEN_KEY_FILE, else token.key in the state folder.",
            valueName: "path"
        )
    )
    var tokenKeyFile: String?

    /// The key file named by flag or environment, else `<state folder>/token.key`.
    var resolvedPath: String {
        explicitPath ?? "\(EmbeddedCluster.Configuration.fromEnvironment().stateDirectory)/token.key"
    }

    /// The path the user named by flag or environment; nil means the default.
    var explicitPath: String? {
        tokenKeyFile ?? environmentValue("AGENT_BRIDGE_TOKEN_KEY_FILE")
    }
}

/// `agent-bridge token issue|keygen`: tokens for `serve` in token mode.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Issue tokens for serve's token mode, and create signing keys.",
        discussion: """
            A token is a JWT (HS256 or EdDSA) with sub (the handle), ws (the workspace), role, iat, exp and \
            aud=agent-bridge. Give it to an agent session as AGENT_BRIDGE_TOKEN; serve then checks it on \
            every call.

            Example:
              agent-bridge token keygen
              agent-bridge token issue --participant reviewer --role reviewer --ttl 12h
            """,
        subcommands: [Issue.self, Keygen.self]
    )

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a signed token for one participant.",
            discussion: "With the default key path and no key there yet, an HS256 key is created first (and said so on stderr)."
        )

        @Option(help: "The participant handle the token names (sub).")
        var participant: String

        @Option(help: "The role it acts in: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        var role: String

        @Option(help: "How long it is valid, e.g. 30m, 12h, 7d.")
        var ttl: String = "12h"

        @Option(help: "The workspace (ws). Default: $AGENT_BRIDGE_WORKSPACE, else local.")
        var workspace: String?

        @OptionGroup var key: TokenKeyOptions

        func validate() throws {
            try validateHandle(participant)
            _ = try parseRole(role)
            guard let duration = CatalogParser.parseDuration(ttl), duration > .zero else {
                throw ValidationError("ttl \"\(ttl)\" is not a positive duration like 90s, 30m, 12h or 7d.")
            }
        }

        func run() async throws {
            let path = key.resolvedPath
            if !FileManager.default.fileExists(atPath: path) {
                guard key.explicitPath == nil else {
                    exitWithError("no key at \(path); create one with: agent-bridge token keygen --token-key-file \(path)")
                }
                do {
                    try TokenAuthority.generateKeyFile(at: path, algorithm: .hs256)
                } catch {
                    exitWithError("cannot create the key file \(path): \(error.localizedDescription)")
                }
                FileHandle.standardError.write(Data("agent-bridge: created an HS256 signing key at \(path)\n".utf8))
            }
            let role = try parseRole(role)
            do {
                let token = try await TokenAuthority(keyFile: path).issue(
                    handle: participant,
                    role: role,
                    workspace: resolveWorkspace(workspace),
                    ttl: CatalogParser.parseDuration(ttl) ?? .zero
                )
                print(token)
            } catch {
                exitWithError("\(error.message) (key file: \(path))")
            }
        }
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new signing key file (never overwrites one).",
            discussion: """
                hs256: a random 32-byte secret; serve and token issue both read the same file.
                eddsa: an Ed25519 private key (PEM). To let serve verify without being able to issue, give it a
                file with just the public key: openssl pkey -in token.key -pubout > token.pub
                """
        )

        @Option(help: "hs256 or eddsa.")
        var algorithm: String = "hs256"

        @OptionGroup var key: TokenKeyOptions

        func run() async throws {
            guard let algorithm = TokenAuthority.Algorithm.allCases.first(where: { $0.rawValue.lowercased() == algorithm.lowercased() }) else {
                throw ValidationError("algorithm \"\(algorithm)\" is not hs256 or eddsa.")
            }
            let path = key.resolvedPath
            guard !FileManager.default.fileExists(atPath: path) else {
                exitWithError("\(path) already exists; remove it first to replace the key (every token signed with it stops working).")
            }
            do {
                try TokenAuthority.generateKeyFile(at: path, algorithm: algorithm)
            } catch {
                exitWithError("cannot create the key file \(path): \(error.localizedDescription)")
            }
            print("Created \(algorithm.rawValue) key: \(path)")
        }
    }
}
