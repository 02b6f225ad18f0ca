import BridgeCore
import Synchronization

/// What this session's client said of itself in `initialize`, read by ``SessionTransport`` and acted on by
/// the session lease (``SessionLeaseKeeper``) and the channel push (``ChannelPusher``).
public final class ClientSession: Sendable {
    /// The client's self-description.
    public struct Info: Sendable, Equatable {
        public var name: String?
        public var version: String?
        /// The client declared `capabilities.experimental["claude/channel"]`: the server may push channel
        /// notifications into its session even while it is idle.
        public var channel = false
        /// The client declared `experimental["claude/channel/permission"]`: it relays its permission questions
        /// (``PermissionRelay``) and takes the first answer.
        public var permissionRelay = false

        /// The runtime kind the client name implies (Claude Code calls itself `claude-code`, Codex `codex-mcp-client`).
        public var runtime: RuntimeKind {
            let name = (self.name ?? "").lowercased()
            if name.contains("claude") { return .claudeCode }
            if name.contains("codex") { return .codexCLI }
            return .none
        }
    }

    private struct State {
        var info: Info?
        var listeners: [AutoResetSignal] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// What `initialize` said; nil before it arrived.
    public var info: Info? { state.withLock { $0.info } }

    /// A signal fired when `initialize` arrives (at once if it already has), one per waiting consumer.
    public func initializeSignal() -> AutoResetSignal {
        let signal = AutoResetSignal()
        let arrived = state.withLock { state -> Bool in
            state.listeners.append(signal)
            return state.info != nil
        }
        if arrived { signal.fire() }
        return signal
    }

    /// Records an `initialize` request's params.
    func noteInitialize(_ params: [String: JSONValue]) {
        var info = Info()
        info.name = params["clientInfo"]?["name"]?.stringValue
        info.version = params["clientInfo"]?["version"]?.stringValue
        info.channel = params["capabilities"]?["experimental"]?["claude/channel"] != nil
        info.permissionRelay = params["capabilities"]?["experimental"]?["claude/channel/permission"] != nil
        let listeners = state.withLock { state -> [AutoResetSignal] in
            state.info = info
            return state.listeners
        }
        for listener in listeners { listener.fire() }
    }
}
