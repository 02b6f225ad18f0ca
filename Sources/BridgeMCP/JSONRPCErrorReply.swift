import Foundation
import MCP

/// A JSON-RPC error response the server writes itself, for a frame it refuses before the SDK sees it.
///
/// Only client-error codes exist here: nothing a client sends is answered with `-32603 Internal error`.
struct JSONRPCErrorReply: Encodable, Sendable {
    /// The JSON-RPC 2.0 codes for faults in what the client sent.
    enum Code: Int, Sendable {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
    }

    /// The request's id; nil is written as `null`, for a frame whose id cannot be read.
    let id: ID?
    let code: Code
    let message: String

    /// The reply as one line's worth of JSON, without the newline.
    var data: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding an enum, an Int and two strings cannot fail.
        return (try? encoder.encode(self)) ?? Data(#"{"error":{"code":-32600,"message":"Invalid Request"},"id":null,"jsonrpc":"2.0"}"#.utf8)
    }

    private enum CodingKeys: String, CodingKey { case jsonrpc, id, error }
    private enum ErrorKeys: String, CodingKey { case code, message }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("2.0", forKey: .jsonrpc)
        if let id { try container.encode(id, forKey: .id) } else { try container.encodeNil(forKey: .id) }
        var error = container.nestedContainer(keyedBy: ErrorKeys.self, forKey: .error)
        try error.encode(code.rawValue, forKey: .code)
        try error.encode(message, forKey: .message)
    }
}
