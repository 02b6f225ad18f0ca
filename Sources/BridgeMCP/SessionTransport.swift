import Foundation
import Logging
import MCP

/// The transport the SDK's `Server` runs on: it passes on only what ``FrameGate`` lets through, answers
/// `tools/call` and `tools/list` itself, and does not let the end of input lose answers still being computed.
///
/// **Tool calls.** Each `tools/call` runs in its own task, from the ``JSONValue`` the gate parsed to the reply
/// bytes of ``JSONRPCResultReply``: one parse in, one write out, and no detour through the SDK's `Value`
/// (see ``ToolRouter``). A `notifications/cancelled` naming a running call cancels its task, and the call is not
/// answered, as MCP asks. Everything else of the protocol (`initialize`, `ping`, notifications) is the SDK's.
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
    private var outstanding: Set<ID> = []
    /// The tool calls running, by request id; a cancelled one is removed, so its answer is dropped.
    private var calls: [ID: RunningCall] = [:]
    private var callsStarted = 0
    private var drained: [CheckedContinuation<Void, Never>] = []

    init(wrapping inner: any Transport, router: ToolRouter, drainTimeout: Duration, gate: FrameGate, logger: Logger) {
        self.inner = inner
        self.router = router
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
        try await inner.send(data)
        // Only after the write: the answer is out before input may be declared finished.
        if let id = Self.answeredID(data) { settle(id) }
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
                calls.removeValue(forKey: cancelled)?.task.cancel()
                settle(cancelled)
            }
            return frame
        case .call(let call):
            start(call, received: received)
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
    }

    private func start(_ call: FrameGate.ToolCall, received: ContinuousClock.Instant) {
        let router = self.router
        callsStarted += 1
        let serial = callsStarted
        outstanding.insert(call.id)
        // A client that reuses the id of a call still running replaces it; the first one's answer is dropped.
        calls[call.id]?.task.cancel()
        calls[call.id] = RunningCall(serial: serial, task: Task {
            let reply = await Self.answer(call, router: router, received: received)
            await self.finish(call.id, serial: serial, reply: reply)
        })
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
        calls.removeValue(forKey: id)
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
            drained.forEach { $0.resume() }
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
        drained.forEach { $0.resume() }
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
