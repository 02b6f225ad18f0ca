import Foundation
import Logging
import MCP
import NIOCore
import NIOPosix

/// MCP's stdio transport (newline-delimited JSON-RPC on stdin/stdout) driven by SwiftNIO's event loop.
///
/// The SDK's `StdioTransport` polls a non-blocking stdin and sleeps 10 ms whenever nothing is there, which puts
/// up to 10 ms on every request of a client that waits for each answer. Here a read wakes the moment bytes
/// arrive. Input may half-close: after stdin ends, answers still go out on stdout until `disconnect()`.
///
/// NIO only drives descriptors epoll accepts (pipes, sockets, terminals); ``StdioDescriptor`` decides, before
/// NIO sees them, whether this transport or ``BlockingStdioTransport`` serves stdin and stdout.
public actor PipeStdioTransport: Transport {
    public nonisolated let logger: Logger
    /// The longest line accepted; a longer one is answered with an error and discarded.
    static let maximumLineBytes = 8 * 1024 * 1024

    private let incoming: AsyncThrowingStream<Data, any Error>
    private let incomingContinuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let outgoing: AsyncStream<Data>
    private let outgoingContinuation: AsyncStream<Data>.Continuation
    private var pump: Task<Void, Never>?

    /// A NIO-driven transport on this process's stdin and stdout; both must be pipes, sockets or terminals.
    static func connected(logger: Logger) async throws -> PipeStdioTransport {
        let transport = PipeStdioTransport(logger: logger)
        try await transport.connectPipes()
        return transport
    }

    init(logger: Logger) {
        self.logger = logger
        (incoming, incomingContinuation) = AsyncThrowingStream.makeStream(of: Data.self)
        (outgoing, outgoingContinuation) = AsyncStream.makeStream(of: Data.self)
    }

    /// Already connected by `connected(logger:)`.
    public func connect() async throws {}

    private func connectPipes() async throws {
        let input = dup(STDIN_FILENO)
        let output = dup(STDOUT_FILENO)
        guard input >= 0, output >= 0 else { throw MCPError.internalError("cannot duplicate stdin or stdout") }
        let channel: NIOAsyncChannel<LineFramer.Frame, ByteBuffer>
        do {
            channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .takingOwnershipOfDescriptors(input: input, output: output) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maximumLineBytes: Self.maximumLineBytes))
                        )
                        return try NIOAsyncChannel<LineFramer.Frame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            close(input)
            close(output)
            throw error
        }
        let incomingContinuation = self.incomingContinuation
        let outgoingContinuation = self.outgoingContinuation
        let outgoing = self.outgoing
        let logger = self.logger
        let tooLongReply = LineFramer(maximumLineBytes: Self.maximumLineBytes).tooLongReply
        // Answers are written on the channel itself and each write awaited until its bytes are in stdout: the async
        // writer's `write` returns once a message is queued, and `executeThenClose` then closes the channel, which
        // drops whatever a slow reader had not yet taken off a full pipe (the end of a large tools/list reply).
        let stdout = channel.channel
        pump = Task {
            do {
                try await channel.executeThenClose { inbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                for try await frame in inbound {
                                    switch frame {
                                    case .line(let line): incomingContinuation.yield(Data(buffer: line))
                                    case .tooLong: outgoingContinuation.yield(tooLongReply)
                                    }
                                }
                                incomingContinuation.finish()
                            } catch {
                                incomingContinuation.finish(throwing: error)
                            }
                        }
                        group.addTask {
                            for await message in outgoing {
                                var buffer = ByteBuffer()
                                buffer.reserveCapacity(message.count + 1)
                                buffer.writeBytes(message)
                                buffer.writeInteger(UInt8(ascii: "\n"))
                                try await stdout.writeAndFlush(buffer)
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            } catch {
                logger.warning("The stdio channel failed.", metadata: ["error": "\(error)"])
                incomingContinuation.finish(throwing: error)
            }
        }
    }

    /// Writes the remaining answers, then closes stdout.
    public func disconnect() async {
        outgoingContinuation.finish()
        await pump?.value
        pump = nil
    }

    public func send(_ data: Data) async throws {
        outgoingContinuation.yield(data)
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        incoming
    }
}

/// Frames the channel's bytes with ``LineFramer``: one ``LineFramer/Frame`` per line or oversize line.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFramer.Frame
    private var framer: LineFramer

    init(maximumLineBytes: Int) {
        framer = LineFramer(maximumLineBytes: maximumLineBytes)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = framer.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        if let last = framer.finish(&buffer) { context.fireChannelRead(Self.wrapInboundOut(last)) }
        return .needMoreData
    }
}
