import BridgeCore
import Foundation
import Logging
import MCP

/// The transport the SDK's `Server` runs on: it passes on only what ``FrameGate`` lets through, answers
/// `tools/call` and `tools/list` itself, and does not let the end of input lose answers still being computed.
///
/// **Tool calls.** Each `tools/call` runs in its own task, from the ``JSONValue`` the gate parsed to the reply
/// bytes of ``JSONRPCResultReply``: one parse in, one write out, and no detour through the SDK's `Value`
/// (see ``ToolRouter``). A `notifications/cancelled` naming a running call cancels its task, and the call is not
/// answered, as MCP asks. A call whose `_meta` carries a `progressToken` gets a `notifications/progress` every
/// `progressInterval` while it runs (a long poll, a wait for a human), so clients that reset their tool timeout
/// on progress keep waiting. Everything else of the protocol (`initialize`, `ping`, notifications) is the SDK's;
/// what `initialize` says of the client goes to ``ClientSession``, and when the client declared Claude Code's
/// `claude/channel` capability the SDK's reply is amended to declare it too.
///
/// **Draining.** The SDK stops reading when stdin closes; a client that writes its requests and closes its end
/// at once (`printf … | agent-bridge serve`) would otherwise get no replies. The end of the incoming stream is
/// held back until every request delivered or started has been answered (or cancelled by the client), bounded
/// by `drainTimeout`. A frame the gate refuses is answered here, through the inner transport, before the next
/// one is read.
public actor SessionTransport: Transport {
    public nonisolated let logger: Logger
    private let inner: any Transport
    private let drainTimeout: Duration
    private let gate: FrameGate
    private let router: ToolRouter
    private let client: ClientSession
    private let progressInterval: Duration
    /// The id of the `initialize` request whose reply may need the channel capability.
    private var initializeID: ID?
    private var outstanding: Set<ID> = []
    /// The tool calls running, by request id; a cancelled one is removed, so its answer is dropped.
    private var calls: [ID: RunningCall] = [:]
    private var callsStarted = 0
    private var drained: [CheckedContinuation<Void, Never>] = []

    init(
        wrapping inner: any Transport,
        router: ToolRouter,
        client: ClientSession,
        progressInterval: Duration = .seconds(5),
        drainTimeout: Duration,
        gate: FrameGate,
        logger: Logger
    ) {
        self.inner = inner
        self.router = router
        self.client = client
        self.progressInterval = progressInterval
        self.drainTimeout = drainTimeout
        self.gate = gate
        self.logger = logger
    }

    public func connect() async throws {
        try await inner.connect()
    }

    public func disconnect() async {
        await inner.disconnect()
    }

    public func send(_ data: Data) async throws {
        let id = Self.answeredID(data)
        if let initializeID, id == initializeID {
            self.initializeID = nil
            try await inner.send(client.info.map { Self.declaringChannel(data, $0) } ?? data)
        } else {
            try await inner.send(data)
        }
        // Only after the write: the answer is out before input may be declared finished.
        if let id { settle(id) }
    }

    /// Writes a notification the server originates (a channel push).
    func notify(_ data: Data) async {
        await write(data)
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream { continuation in
            let pump = Task {
                do {
                    for try await data in await self.inner.receive() {
                        if let frame = await self.admit(data, received: .now) { continuation.yield(frame) }
                    }
                    await self.waitForOutstandingAnswers()
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in pump.cancel() }
        }
    }

    // MARK: - Admission

    /// What goes on to the SDK for this frame; nil when it is answered, started or dropped here.
    private func admit(_ data: Data, received: ContinuousClock.Instant) async -> Data? {
        switch gate.classify(data) {
        case .pass(let frame, let request, let cancelled):
            if let request { outstanding.insert(request) }
            if let cancelled {
                if let running = calls.removeValue(forKey: cancelled) {
                    running.task.cancel()
                    running.ticker?.cancel()
                }
                // Cancelled requests are not answered, by this transport or by the SDK.
                settle(cancelled)
            }
            return frame
        case .initialize(let frame, let id, let params):
            outstanding.insert(id)
            initializeID = id
            client.noteInitialize(params)
            return frame
        case .call(let call):
            start(call, received: received)
            return nil
        case .permissionRequest(let request):
            guard client.info?.permissionRelay == true else {
                logger.warning("A permission request from a client that did not declare claude/channel/permission was ignored.")
                return nil
            }
            let router = self.router
            Task {
                if let reply = await PermissionRelay.answer(request, router: router) { await self.notify(reply) }
            }
            return nil
        case .listTools(let id):
            await write(JSONRPCResultReply.encoded(id: id, result: router.catalog.listResult))
            return nil
        case .answer(let reply):
            await write(reply)
            return nil
        case .drop(let reason):
            logger.warning("A message was ignored.", metadata: ["mcp.reason": "\(reason)"])
            return nil
        }
    }

    /// A tool call in flight; `serial` tells it from a later call that reused its id.
    private struct RunningCall {
        let serial: Int
        let task: Task<Void, Never>
        /// Sends its progress notifications, when the client asked for them.
        var ticker: Task<Void, Never>?
    }

    private func start(_ call: FrameGate.ToolCall, received: ContinuousClock.Instant) {
        let router = self.router
        callsStarted += 1
        let serial = callsStarted
        outstanding.insert(call.id)
        // A client that reuses the id of a call still running replaces it; the first one's answer is dropped.
        calls[call.id]?.task.cancel()
        calls[call.id]?.ticker?.cancel()
        var running = RunningCall(
            serial: serial,
            task: Task {
                let reply = await Self.answer(call, router: router, received: received)
                await self.finish(call.id, serial: serial, reply: reply)
            }
        )
        if let token = Self.progressToken(call.meta) {
            let interval = progressInterval
            running.ticker = Task {
                var step = 0
                while true {
                    do {
                        try await Task.sleep(for: interval)
                    } catch {
                        return
                    }
                    step += 1
                    await self.progress(call.id, serial: serial, token: token, step: step, elapsed: received.duration(to: .now))
                }
            }
        }
        calls[call.id] = running
    }

    /// A `_meta.progressToken` as MCP allows it: a string or an integer.
    static func progressToken(_ meta: [String: JSONValue]?) -> JSONValue? {
        switch meta?["progressToken"] {
        case .string(let token)?: .string(token)
        case .number(let number)? where Int64(number.literal) != nil: .number(number)
        default: nil
        }
    }

    /// Writes one progress notification for a call still running.
    private func progress(_ id: ID, serial: Int, token: JSONValue, step: Int, elapsed: Duration) async {
        guard calls[id]?.serial == serial else { return }
        await write(
            JSONValue.object([
                "jsonrpc": .string("2.0"), "method": .string("notifications/progress"),
                "params": .object([
                    "progressToken": token, "progress": .integer(Int64(step)),
                    "message": .string("Still working (\(Int(elapsed.seconds)) s)."),
                ]),
            ]).serialized()
        )
    }

    /// The SDK's `initialize` reply declaring the Claude Code channel capabilities the client declared
    /// (`claude/channel`, `claude/channel/permission`); the reply as it is when it declared neither.
    static func declaringChannel(_ reply: Data, _ client: ClientSession.Info) -> Data {
        guard client.channel || client.permissionRelay,
            case .object(var message)? = try? JSONParser.parse(reply), case .object(var result)? = message["result"]
        else { return reply }
        var capabilities = result["capabilities"]?.objectValue ?? [:]
        var experimental = capabilities["experimental"]?.objectValue ?? [:]
        if client.channel { experimental["claude/channel"] = .object([:]) }
        if client.permissionRelay { experimental["claude/channel/permission"] = .object([:]) }
        capabilities["experimental"] = .object(experimental)
        result["capabilities"] = .object(capabilities)
        message["result"] = .object(result)
        return JSONValue.object(message).serialized()
    }

    /// Runs a call and writes its reply bytes, off the actor.
    private nonisolated static func answer(_ call: FrameGate.ToolCall, router: ToolRouter, received: ContinuousClock.Instant) async -> Data {
        do {
            let result = try await router.call(name: call.name, arguments: call.arguments, received: received)
            return JSONRPCResultReply.toolCall(id: call.id, result)
        } catch {
            return JSONRPCErrorReply(id: call.id, code: .invalidParams, message: error.message).data
        }
    }

    /// Writes a call's answer unless the client cancelled it (or reused its id) meanwhile.
    private func finish(_ id: ID, serial: Int, reply: Data) async {
        guard calls[id]?.serial == serial else { return }
        calls.removeValue(forKey: id)?.ticker?.cancel()
        await write(reply)
        settle(id)
    }

    private func write(_ reply: Data) async {
        do {
            try await inner.send(reply)
        } catch {
            logger.warning("An answer could not be written.", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Draining

    private func settle(_ id: ID) {
        outstanding.remove(id)
        if outstanding.isEmpty {
            for continuation in drained { continuation.resume() }
            drained.removeAll()
        }
    }

    private func waitForOutstandingAnswers() async {
        guard !outstanding.isEmpty else { return }
        let timeout = drainTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.untilDrained() }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    await self.giveUpDraining()
                } catch {
                    // Cancelled: every answer went out in time.
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func giveUpDraining() {
        guard !outstanding.isEmpty else { return }
        logger.warning("Input ended with requests still unanswered.", metadata: ["mcp.unanswered": "\(outstanding.count)"])
        outstanding.removeAll()
        for continuation in drained { continuation.resume() }
        drained.removeAll()
    }

    private func untilDrained() async {
        guard !outstanding.isEmpty else { return }
        await withCheckedContinuation { drained.append($0) }
    }

    /// The id of an outgoing response from the SDK (`initialize`, `ping`); it sends no requests, so any id is an answer's.
    static func answeredID(_ data: Data) -> ID? {
        struct Answer: Decodable { var id: ID? }
        return (try? JSONDecoder().decode(Answer.self, from: data))?.id
    }
}
