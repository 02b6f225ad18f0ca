import BridgeCore
import Foundation
import Logging

/// Who is calling a `serve` process, resolved anew on every call: the fixed local identity, or the token
/// checked against the key file each time (ARCHITECTURE.md, Identity and policy), so an expired token or a rotated key takes effect at once.
///
/// A deployment serves exactly one workspace (ARCHITECTURE.md, Domain): a token for another is refused, and so is a token
/// for another participant than the one the server was started for.
public struct CallerIdentity: Sendable {
    /// How callers say who they are.
    public enum Mode: String, Sendable {
        /// The identity is the server's own settings: whoever can start it is trusted.
        case local
        /// Every call presents a signed token (`agent-bridge token issue`).
        case token
    }

    /// `serve`'s identity settings, from its flags and environment.
    public struct Configuration: Sendable {
        /// The participant this server was started for (`--participant`, `$AGENT_BRIDGE_PARTICIPANT`).
        public var participant: String?
        /// The local mode's role (`--role`, `$AGENT_BRIDGE_ROLE`); nil means coordinator. Token mode ignores it.
        public var role: String?
        /// The one workspace this server serves (`--workspace`, `$AGENT_BRIDGE_WORKSPACE`, else `local`).
        public var workspace: String
        /// `local` or `token` (`--auth`, `$AGENT_BRIDGE_AUTH`); nil means token when there is a token, else local.
        public var auth: String?
        /// The session's token (`$AGENT_BRIDGE_TOKEN`).
        public var token: String?
        /// The key file every token is checked against.
        public var tokenKeyFile: String

        /// Settings given one by one.
        public init(
            participant: String? = nil,
            role: String? = nil,
            workspace: String = "local",
            auth: String? = nil,
            token: String? = nil,
            tokenKeyFile: String
        ) {
            self.participant = participant
            self.role = role
            self.workspace = workspace
            self.auth = auth
            self.token = token
            self.tokenKeyFile = tokenKeyFile
        }

        /// Each flag, else its environment variable (an empty one counts as unset).
        public init(
            participant: String?,
            role: String?,
            workspace: String?,
            auth: String?,
            tokenKeyFile: String,
            environment: [String: String]
        ) {
            func value(_ variable: String) -> String? {
                environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            }
            self.init(
                participant: participant ?? value("AGENT_BRIDGE_PARTICIPANT"),
                role: role ?? value("AGENT_BRIDGE_ROLE"),
                workspace: workspace ?? value("AGENT_BRIDGE_WORKSPACE") ?? "local",
                auth: auth ?? value("AGENT_BRIDGE_AUTH"),
                token: value("AGENT_BRIDGE_TOKEN"),
                tokenKeyFile: tokenKeyFile
            )
        }
    }

    /// Settings `serve` cannot start with; the message is for the operator's command line.
    public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
        /// What is wrong and what would do.
        public let message: String

        public var description: String { message }

        /// A participant handle that is not `[a-z0-9][a-z0-9_.-]*` of at most 64.
        public static func invalidHandle(_ handle: String) -> ConfigurationError {
            ConfigurationError(
                message: "participant \"\(handle)\" is not a valid handle: use 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit."
            )
        }

        /// A role name the catalog does not know.
        public static func invalidRole(_ name: String) -> ConfigurationError {
            ConfigurationError(message: "role \"\(name)\" is not one of: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        }

        /// An auth mode other than local or token.
        public static func invalidMode(_ mode: String) -> ConfigurationError {
            ConfigurationError(message: "auth \"\(mode)\" is not local or token.")
        }
    }

    /// Resolves the caller of one call, or throws why there is none.
    public typealias Resolve = @Sendable () async throws(BridgeError) -> Identity

    /// How this server's callers say who they are (`v1_whoami`'s `auth_mode`).
    public let mode: Mode
    private let resolveCaller: Resolve

    /// A caller resolved by `resolve`, for a server wired by hand (the drills).
    public init(mode: Mode, resolve: @escaping Resolve) {
        self.mode = mode
        self.resolveCaller = resolve
    }

    /// The caller `serve`'s settings describe. Throws for a malformed participant, a role that does not exist
    /// (local mode) or an unknown mode; token mode without a token only warns, as every call says why it fails.
    public init(configuration: Configuration, logger: Logger) throws(ConfigurationError) {
        let handle = configuration.participant
        if let handle, !Identity.isValidHandle(handle) { throw .invalidHandle(handle) }
        let servedWorkspace = configuration.workspace
        let token = configuration.token
        let modeName = configuration.auth ?? (token == nil ? Mode.local.rawValue : Mode.token.rawValue)
        switch Mode(rawValue: modeName) {
        case .local:
            let roleName = configuration.role ?? Role.coordinator.rawValue
            guard let role = Role(rawValue: roleName) else { throw .invalidRole(roleName) }
            let identity = handle.map { Identity(workspace: servedWorkspace, handle: $0, role: role) }
            self.init(mode: .local) { () async throws(BridgeError) -> Identity in
                guard let identity else {
                    throw BridgeError(
                        .unauthenticated,
                        .identityMissing,
                        "No participant identity: start serve with --participant HANDLE or set AGENT_BRIDGE_PARTICIPANT."
                    )
                }
                return identity
            }
        case .token:
            let authority = TokenAuthority(keyFile: configuration.tokenKeyFile)
            if token == nil {
                logger.warning("Token mode without AGENT_BRIDGE_TOKEN: every call will be refused.", metadata: ["event": "auth.token_missing"])
            }
            self.init(mode: .token) { () async throws(BridgeError) -> Identity in
                guard let token else {
                    throw BridgeError(
                        .unauthenticated,
                        .tokenMissing,
                        "Token mode is on but no token was given: set AGENT_BRIDGE_TOKEN (agent-bridge token issue)."
                    )
                }
                let claims = try await authority.verify(token)
                if claims.workspace != servedWorkspace {
                    throw BridgeError(.permissionDenied, .workspaceMismatch, "The token is for another workspace than the one this server serves.")
                }
                if let handle, claims.handle != handle {
                    throw BridgeError(
                        .permissionDenied,
                        .identityMismatch,
                        "The token names another participant than the one this server was started for."
                    )
                }
                return Identity(workspace: claims.workspace, handle: claims.handle, role: claims.role)
            }
        case nil:
            throw .invalidMode(modeName)
        }
    }

    /// Who is making this call; throws `UNAUTHENTICATED` or `PERMISSION_DENIED` with the reason when nobody is.
    public func resolve() async throws(BridgeError) -> Identity {
        try await resolveCaller()
    }
}
