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
/// NIO only drives pipes, sockets and terminals; `make(logger:)` falls back to the SDK's transport when stdin
/// or stdout is a regular file (`agent-bridge serve < requests.jsonl`).
public actor PipeStdioTransport: Transport {
    public nonisolated let logger: Logger
    /// The longest line accepted; a larger one closes the session instead of growing memory without bound.
    static let maximumLineBytes = 8 * 1024 * 1024

    private let incoming: AsyncThrowingStream<Data, any Error>
    private let incomingContinuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let outgoing: AsyncStream<Data>
    private let outgoingContinuation: AsyncStream<Data>.Continuation
    private var pump: Task<Void, Never>?

    /// A NIO-driven transport on this process's stdin and stdout, or the SDK's when NIO cannot take them.
    public static func make(logger: Logger) async -> any Transport {
        let transport = PipeStdioTransport(logger: logger)
        do {
            try await transport.connectPipes()
            return transport
        } catch {
            logger.debug("stdin or stdout is not a pipe; using the SDK's polling transport.", metadata: ["error": "\(error)"])
            return StdioTransport(logger: logger)
        }
    }

    init(logger: Logger) {
        self.logger = logger
        (incoming, incomingContinuation) = AsyncThrowingStream.makeStream(of: Data.self)
        (outgoing, outgoingContinuation) = AsyncStream.makeStream(of: Data.self)
    }

    /// Already connected by `make(logger:)`.
    public func connect() async throws {}

    private func connectPipes() async throws {
        let input = dup(STDIN_FILENO), output = dup(STDOUT_FILENO)
        guard input >= 0, output >= 0 else { throw MCPError.internalError("cannot duplicate stdin or stdout") }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .takingOwnershipOfDescriptors(input: input, output: output) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maximumLineBytes: Self.maximumLineBytes)))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            close(input)
            close(output)
            throw error
        }
        let incomingContinuation = self.incomingContinuation, outgoing = self.outgoing, logger = self.logger
        pump = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                for try await line in inbound { incomingContinuation.yield(Data(buffer: line)) }
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
                                try await outbound.write(buffer)
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

/// Splits a byte stream into lines (without their `\n`), skipping empty ones; a final line without `\n` counts.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maximumLineBytes: Int

    struct LineTooLong: Error {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maximumLineBytes { throw LineTooLong() }
            return .needMoreData
        }
        let line = buffer.readSlice(length: newline - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytes > 0 {
            context.fireChannelRead(Self.wrapInboundOut(line))
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        if buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(Self.wrapInboundOut(rest))
        }
        return .needMoreData
    }
}
