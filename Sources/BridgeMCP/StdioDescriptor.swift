import Foundation
import Logging
import MCP

/// The kind of file behind a standard descriptor, which picks the stdio transport before NIO sees it.
///
/// NIO's pipe channel registers its descriptors with epoll and traps (a `try!` inside NIO) when epoll
/// refuses one, as it does for regular files and `/dev/null`; no `catch` around the bootstrap can recover
/// from that, so the decision is made here with `fstat`.
enum StdioDescriptor: Equatable, Sendable {
    case pipe
    case socket
    case terminal
    case regularFile
    /// Any other kind, such as `/dev/null` or another device.
    case other
    /// The descriptor is not open.
    case closed

    /// The kind of file `descriptor` refers to.
    init(_ descriptor: CInt) {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            self = .closed
            return
        }
        switch status.st_mode & S_IFMT {
        case S_IFIFO: self = .pipe
        case S_IFSOCK: self = .socket
        case S_IFREG: self = .regularFile
        case S_IFCHR where isatty(descriptor) == 1: self = .terminal
        default: self = .other
        }
    }

    /// epoll can watch it, so NIO can drive it.
    var isPollable: Bool {
        switch self {
        case .pipe, .socket, .terminal: true
        case .regularFile, .other, .closed: false
        }
    }

    /// The transport for this process's stdin and stdout: NIO when both are pollable, else blocking I/O.
    static func transport(logger: Logger) async -> any Transport {
        let input = StdioDescriptor(STDIN_FILENO)
        let output = StdioDescriptor(STDOUT_FILENO)
        if input.isPollable, output.isPollable {
            do {
                return try await PipeStdioTransport.connected(logger: logger)
            } catch {
                logger.warning("NIO cannot drive stdin and stdout; using blocking reads and writes.", metadata: ["error": "\(error)"])
            }
        }
        logger.debug("Serving stdio with blocking reads and writes.", metadata: ["mcp.stdin": "\(input)", "mcp.stdout": "\(output)"])
        return BlockingStdioTransport(logger: logger)
    }
}
