import BridgeCore
import Foundation
import MCP

/// The JSON-RPC results the server writes itself, byte by byte: a `tools/call` result and the `tools/list` reply.
///
/// A tool result carries its output twice, as MCP asks: `structuredContent` (the JSON) and one `text` content
/// block holding the same JSON as a string, so clients that read only text see it too. The JSON is written once
/// and escaped once into the text block; nothing is parsed again.
enum JSONRPCResultReply {
    /// `{"jsonrpc":"2.0","id":…,"result":{"content":[{"type":"text","text":"…"}],"isError":…,"structuredContent":…}}`.
    static func toolCall(id: ID, _ result: ToolRouter.Result) -> Data {
        var structured: [UInt8] = []
        structured.reserveCapacity(1024)
        JSONWriter.write(result.structured, into: &structured)
        var output = head(id: id, capacity: structured.count * 2 + 160)
        output.append(contentsOf: #"{"content":[{"type":"text","text":""#.utf8)
        JSONWriter.writeEscaped(structured, into: &output)
        output.append(contentsOf: #""}],"isError":"#.utf8)
        output.append(contentsOf: (result.isError ? "true" : "false").utf8)
        output.append(contentsOf: #","structuredContent":"#.utf8)
        output.append(contentsOf: structured)
        output.append(contentsOf: "}}".utf8)
        return Data(output)
    }

    /// A reply whose result is JSON already encoded (`tools/list`'s, built once per process).
    static func encoded(id: ID, result: Data) -> Data {
        var output = head(id: id, capacity: result.count + 48)
        output.append(contentsOf: result)
        output.append(UInt8(ascii: "}"))
        return Data(output)
    }

    /// `{"jsonrpc":"2.0","id":…,"result":`.
    private static func head(id: ID, capacity: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        output.append(contentsOf: #"{"jsonrpc":"2.0","id":"#.utf8)
        switch id {
        case .string(let text): JSONWriter.writeString(text, into: &output)
        case .number(let number): output.append(contentsOf: String(number).utf8)
        }
        output.append(contentsOf: #","result":"#.utf8)
        return output
    }
}
