import BridgeCore
import Foundation
import MCP

/// A JSON-RPC error response the server writes itself, for a frame it refuses before the SDK sees it.
///
/// Only client-error codes exist here: nothing a client sends is answered with `-32603 Internal error`.
struct JSONRPCErrorReply: Sendable {
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
        let idValue: JSONValue =
            switch id {
            case .string(let text)?: .string(text)
            case .number(let number)?: .integer(Int64(number))
            case nil: .null
            }
        return JSONValue.object([
            "jsonrpc": .string("2.0"), "id": idValue,
            "error": .object(["code": .integer(Int64(code.rawValue)), "message": .string(message)]),
        ]).serialized()
    }
}
