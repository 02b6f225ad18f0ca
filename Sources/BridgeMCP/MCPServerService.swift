import BridgeCore
import BridgeService
import Foundation
import Logging
import MCP
import ServiceLifecycle

/// The MCP stdio server as a `Service`: it serves until stdin closes or the group shuts down.
///
/// stdout carries only JSON-RPC; the SDK's transport writes nothing else there, and all logging goes to stderr.
/// When the client is a Claude Code session with channels on, a ``ChannelPusher`` pushes the participant's
/// directed messages into it for as long as the session lasts.
public struct MCPServerService: Service {
    let router: ToolRouter
    let client: ClientSession
    let version: String
    let logger: Logger
    let prepare: @Sendable () async -> Void

    /// - Parameters:
    ///   - client: what `initialize` says of the client, shared with the session lease.
    ///   - prepare: runs before the server answers anything (schema check or migration).
    public init(router: ToolRouter, client: ClientSession, version: String, logger: Logger, prepare: @escaping @Sendable () async -> Void) {
        self.router = router
        self.client = client
        self.version = version
        self.logger = logger
        self.prepare = prepare
    }

    public func run() async throws {
        await prepare()
        let server = Server(
            name: "agent-bridge",
            version: version,
            title: "agent-bridge",
            instructions: "Durable threads shared by coding agents and their supervisors. Start with v1_whoami, then v1_inbox or v1_thread_list.",
            capabilities: .init(tools: .init(listChanged: false))
        )
        // tools/call and tools/list are answered by SessionTransport; FrameGate answers every method the SDK does
        // not handle with -32601 before the SDK sees it: a new handler needs its case there.
        var transportLogger = logger
        transportLogger.logLevel = max(logger.logLevel, .warning)
        // Answers still being computed when stdin closes are written before the session ends:
        // the longest is a long-poll at its cap plus one database timeout.
        let transport = SessionTransport(
            wrapping: await StdioDescriptor.transport(logger: transportLogger),
            router: router,
            client: client,
            drainTimeout: .seconds(Limits().maxWaitSeconds + 15),
            gate: FrameGate(),
            logger: transportLogger
        )
        try await server.start(transport: transport)
        let pusher = ChannelPusher(
            service: router.service,
            identity: router.identity,
            client: client,
            send: { await transport.notify($0) },
            logger: logger
        )
        let pushing = Task { await pusher.run() }
        await withGracefulShutdownHandler {
            await server.waitUntilCompleted()
        } onGracefulShutdown: {
            Task { await server.stop() }
        }
        pushing.cancel()
        await server.stop()
        logger.info("MCP session ended.", metadata: ["event": "serve.stopped"])
    }
}
