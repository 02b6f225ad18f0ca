import BridgeCore
import Foundation
import MCP

/// Classifies each incoming line before the SDK's `Server` decodes it, and answers what it refuses.
///
/// The SDK decodes every frame up to five times through `MCP.Value` (a CPU bomb on deep nesting), answers an
/// undecodable frame with a made-up id, executes JSON-RPC batches, and answers params its typed handlers cannot
/// decode with `-32603 Internal error`. The gate lets a frame through only when the SDK will decode it and route
/// it as the client meant: a request is then answered by its handler, a notification or response is consumed
/// silently. Everything else gets one JSON-RPC error with a client-error code and, where the frame's id can be
/// read, that id (`null` otherwise); a malformed notification is dropped, since nothing may answer one.
///
/// Checks, in order: a byte scan for nesting deeper than ``maximumDepth`` and for batches (top-level arrays,
/// which MCP 2025-11-25 does not have); JSON validity (`-32700`, by ``JSONParser``, which reads the frame once
/// into the ``JSONValue`` the rest works on); the JSON-RPC envelope (`-32600`); and the params of each method
/// the server handles (`-32602`). For the methods the SDK answers, the last two read the frame with
/// `JSONDecoder`, as the SDK does, so they agree with it even on duplicate keys.
///
/// `tools/call` and `tools/list` never reach the SDK: they become ``Verdict/call(_:)`` and
/// ``Verdict/listTools(_:)``, answered by ``SessionTransport`` from the parsed frame, because the SDK decodes
/// arguments through `MCP.Value`, which rewrites strings that look like data URLs (swift-sdk#277) and compiles
/// a regular expression for every string it meets. Only `initialize` reaches the SDK as sent. Every other
/// message that passes goes on as the few members its handler reads (a `ping` without its params, a response
/// without its result), and a request for a method the server does not handle is answered here with `-32601`.
struct FrameGate: Sendable {
    /// The deepest nesting a frame may have, counting the top-level object as 1.
    static let maximumDepth = 64

    /// A `tools/call` request the server answers itself, as parsed from its frame.
    struct ToolCall: Sendable, Equatable {
        var id: ID
        var name: String
        /// `params.arguments`; an absent member is an empty object.
        var arguments: [String: JSONValue]
        /// `params._meta`, when sent.
        var meta: [String: JSONValue]?
    }

    /// What to do with one frame.
    enum Verdict: Sendable, Equatable {
        /// Answer this `tools/call` here, without the SDK.
        case call(ToolCall)
        /// Answer `tools/list` here, with the catalog's encoded list, under this id.
        case listTools(ID)
        /// Decide this relayed permission question (a notification: nothing answers it as a response).
        case permissionRequest(PermissionRelay.Request)
        /// Hand this `initialize` to the SDK as sent; `params` is what the client said of itself.
        case initialize(Data, request: ID, params: [String: JSONValue])
        /// Hand `frame` to the SDK in place of the line read (the same bytes, or only the members its handler
        /// reads). `request` is the id its answer will carry; `cancelled` the id a `notifications/cancelled` names.
        case pass(Data, request: ID?, cancelled: ID?)
        /// Write this reply instead; the SDK never sees the frame.
        case answer(Data)
        /// Ignore the frame: a notification that cannot be acted on, or a response to nothing.
        case drop(reason: String)
    }

    /// The verdict on one line of input.
    func classify(_ frame: Data) -> Verdict {
        let shape = JSONShape.scan(frame, maximumDepth: Self.maximumDepth)
        switch shape.opening {
        case UInt8(ascii: "{"):
            break
        case UInt8(ascii: "["):
            return answer(nil, .invalidRequest, "JSON-RPC batches are not supported (MCP 2025-11-25); send one message per line.")
        default:
            if (try? JSONSerialization.jsonObject(with: frame, options: .fragmentsAllowed)) == nil {
                return answer(nil, .parseError, "Parse error: the line is not valid JSON.")
            }
            return answer(nil, .invalidRequest, "Invalid Request: a message must be a JSON object.")
        }
        if let member = shape.deepMember {
            let message = "nests deeper than \(Self.maximumDepth) levels."
            if shape.hasMethod, !shape.hasID { return .drop(reason: "A notification " + message) }
            let id = shape.rawID.flatMap(Self.readID)
            if member == "params", shape.hasMethod {
                return answer(id, .invalidParams, "Invalid params: params " + message)
            }
            return answer(id, .invalidRequest, "Invalid Request: the message " + message)
        }
        // The parser refuses invalid UTF-8, control characters and numbers no double holds, any of which would
        // also make the SDK's decoders fail after the gate.
        guard case .object(let message)? = try? JSONParser.parse(frame, maximumDepth: Self.maximumDepth) else {
            return answer(nil, .parseError, "Parse error: the line is not valid JSON.")
        }
        if message["method"] == .string(CallTool.name), message["id"] != nil {
            return toolCall(message)
        }
        if message["method"] == .string(PermissionRelay.requestMethod), message["id"] == nil {
            guard message["jsonrpc"] == .string("2.0"), case .object(let params)? = message["params"],
                let request = PermissionRelay.Request(params)
            else { return .drop(reason: "A channel permission request needs params with request_id and tool_name.") }
            return .permissionRequest(request)
        }
        let frame = Self.withoutExperimentalCapabilities(frame, message)
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: frame)
        } catch {
            return answer(nil, .parseError, "Parse error: the line is not valid JSON.")
        }
        if envelope.hasMethod {
            return envelope.hasID ? request(envelope, frame: frame, message: message) : notification(envelope)
        }
        return response(envelope)
    }

    // MARK: - Requests, notifications, responses

    private func request(_ envelope: Envelope, frame: Data, message: [String: JSONValue]) -> Verdict {
        guard let id = envelope.id else {
            return answer(nil, .invalidRequest, "Invalid Request: id must be a string or an integer.")
        }
        guard envelope.jsonrpc == "2.0" else {
            return answer(id, .invalidRequest, #"Invalid Request: jsonrpc must be "2.0"."#)
        }
        guard let method = envelope.method else {
            return answer(id, .invalidRequest, "Invalid Request: method must be a string.")
        }
        guard !envelope.hasResult, !envelope.hasError else {
            return answer(id, .invalidRequest, "Invalid Request: a request cannot carry result or error.")
        }
        if let kind = envelope.paramsKind, kind != .object {
            return answer(id, .invalidParams, "Invalid params: params must be an object, not \(kind.phrase).")
        }
        if let problem = envelope.paramsProblem {
            return answer(id, .invalidParams, "Invalid params: \(problem)")
        }
        switch method {
        case Initialize.name:
            return .initialize(frame, request: id, params: message["params"]?.objectValue ?? [:])
        case ListTools.name:
            // One page holds every tool, so a cursor changes nothing.
            return .listTools(id)
        case Ping.name:
            return .pass(Forwarded(id: id, method: method).data, request: id, cancelled: nil)
        default:
            return answer(id, .methodNotFound, "Method not found: \(method.prefix(200))")
        }
    }

    /// The checks ``request(_:frame:message:)`` makes, in the same order and words, read from the parsed frame.
    private func toolCall(_ message: [String: JSONValue]) -> Verdict {
        guard let id = Self.id(message["id"]) else {
            return answer(nil, .invalidRequest, "Invalid Request: id must be a string or an integer.")
        }
        guard message["jsonrpc"] == .string("2.0") else {
            return answer(id, .invalidRequest, #"Invalid Request: jsonrpc must be "2.0"."#)
        }
        guard message["result"] == nil, message["error"] == nil else {
            return answer(id, .invalidRequest, "Invalid Request: a request cannot carry result or error.")
        }
        guard let paramsValue = message["params"] else {
            return answer(id, .invalidParams, "Invalid params: params is required for tools/call.")
        }
        guard case .object(let params) = paramsValue else {
            return answer(id, .invalidParams, "Invalid params: params must be an object, not \(paramsValue.kindPhrase).")
        }
        guard let nameValue = params["name"] else {
            return answer(id, .invalidParams, "Invalid params: params.name is required.")
        }
        guard case .string(let name) = nameValue else {
            return answer(id, .invalidParams, "Invalid params: params.name must be a string, not \(nameValue.kindPhrase).")
        }
        var arguments: [String: JSONValue] = [:]
        if let value = params["arguments"] {
            guard case .object(let object) = value else {
                return answer(id, .invalidParams, "Invalid params: params.arguments must be an object, not \(value.kindPhrase).")
            }
            arguments = object
        }
        var meta: [String: JSONValue]?
        if let value = params["_meta"] {
            guard case .object(let object) = value else {
                return answer(id, .invalidParams, "Invalid params: params._meta must be an object, not \(value.kindPhrase).")
            }
            meta = object
        }
        return .call(ToolCall(id: id, name: name, arguments: arguments, meta: meta))
    }

    /// An `initialize` frame without `params.capabilities.experimental`, which the SDK types as `[String: String]`
    /// while MCP allows any object there (Claude Code sends `"claude/channel": {}`): the SDK would refuse the
    /// real thing. ``ClientSession`` still gets the whole params; any other frame is returned as it is.
    static func withoutExperimentalCapabilities(_ frame: Data, _ message: [String: JSONValue]) -> Data {
        guard message["method"] == .string(Initialize.name), case .object(var params)? = message["params"],
            case .object(var capabilities)? = params["capabilities"], capabilities["experimental"] != nil
        else { return frame }
        capabilities.removeValue(forKey: "experimental")
        params["capabilities"] = .object(capabilities)
        var message = message
        message["params"] = .object(params)
        return JSONValue.object(message).serialized()
    }

    /// A request id as the SDK reads it: a string or an integer; nil for anything else.
    static func id(_ value: JSONValue?) -> ID? {
        switch value {
        case .string(let text)?: .string(text)
        case .number(let number)?: Int(number.literal).map(ID.number)
        default: nil
        }
    }

    private func notification(_ envelope: Envelope) -> Verdict {
        guard envelope.jsonrpc == "2.0" else { return .drop(reason: #"A notification's jsonrpc is not "2.0"."#) }
        guard envelope.method != nil else { return .drop(reason: "A notification's method is not a string.") }
        guard !envelope.hasResult, !envelope.hasError else { return .drop(reason: "A notification carries result or error.") }
        if let kind = envelope.paramsKind, kind != .object {
            return .drop(reason: "A notification's params are \(kind.phrase), not an object.")
        }
        if let problem = envelope.paramsProblem { return .drop(reason: "A notification's \(problem)") }
        var forwarded = Forwarded(method: envelope.method)
        if envelope.method == CancelledNotification.name { forwarded.cancellation = .some(envelope.cancelledID) }
        return .pass(forwarded.data, request: nil, cancelled: envelope.cancelledID)
    }

    private func response(_ envelope: Envelope) -> Verdict {
        let id = envelope.id
        guard envelope.jsonrpc == "2.0" else {
            return answer(id, .invalidRequest, #"Invalid Request: jsonrpc must be "2.0"."#)
        }
        guard envelope.hasResult != envelope.hasError else {
            return answer(id, .invalidRequest, "Invalid Request: a request needs a method; a response needs either result or error.")
        }
        if envelope.hasError, !envelope.errorIsValid {
            return answer(id, .invalidRequest, "Invalid Request: error must be an object with an integer code and a string message.")
        }
        guard id != nil else {
            // The error response JSON-RPC prescribes for a message the client could not read: answering it could loop.
            if envelope.hasError, envelope.idIsNull { return .drop(reason: "An error response with a null id.") }
            return answer(nil, .invalidRequest, "Invalid Request: a response's id must be a string or an integer.")
        }
        // The server sends no requests, so the SDK logs any response as one to an unknown request.
        return .pass(Forwarded(id: id, result: true).data, request: nil, cancelled: nil)
    }

    private func answer(_ id: ID?, _ code: JSONRPCErrorReply.Code, _ message: String) -> Verdict {
        .answer(JSONRPCErrorReply(id: id, code: code, message: message).data)
    }

    /// The id in the raw bytes of an `id` member, as the SDK would read it; nil for null or any other kind.
    static func readID(_ raw: Data) -> ID? {
        guard let text = String(data: raw, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            text != "null", !text.isEmpty
        else { return nil }
        return try? JSONDecoder().decode(ID.self, from: Data(text.utf8))
    }
}

// MARK: - Forwarding

extension FrameGate {
    /// The members of a message the SDK's handler reads, and nothing else.
    struct Forwarded: Encodable {
        var id: ID?
        var method: String?
        /// The params of a `notifications/cancelled`: the id it names, if any.
        var cancellation: ID??
        var result = false

        private enum Keys: String, CodingKey { case jsonrpc, id, method, params, result }
        private enum CancelledKeys: String, CodingKey { case requestID = "requestId" }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode("2.0", forKey: .jsonrpc)
            try container.encodeIfPresent(id, forKey: .id)
            try container.encodeIfPresent(method, forKey: .method)
            if let cancellation {
                var params = container.nestedContainer(keyedBy: CancelledKeys.self, forKey: .params)
                try params.encodeIfPresent(cancellation, forKey: .requestID)
            }
            if result { try container.encode([String: String](), forKey: .result) }
        }

        var data: Data {
            // Strings, ids and a dictionary of strings always encode.
            (try? JSONEncoder().encode(self)) ?? Data()
        }
    }
}

// MARK: - Reading the envelope

extension FrameGate {
    /// The kind of a JSON value, read without decoding its contents.
    enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null

        var phrase: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            }
        }
    }

    /// The top-level members of a frame as the SDK's `JSONDecoder` sees them, and the params problems it would hit.
    struct Envelope: Decodable {
        var jsonrpc: String?
        var hasID = false
        /// The id member is missing or null.
        var idIsNull = true
        /// The id when it is one the SDK reads back unchanged: a string or an integer.
        var id: ID?
        var hasMethod = false
        var method: String?
        var paramsKind: Kind?
        /// Why the params do not fit the method, phrased for the client; nil when they fit or are not checked.
        var paramsProblem: String?
        var cancelledID: ID?
        var hasResult = false
        var hasError = false
        var errorIsValid = false

        private enum Keys: String, CodingKey { case jsonrpc, id, method, params, result, error }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            jsonrpc = try? container.decode(String.self, forKey: .jsonrpc)
            hasID = container.contains(.id)
            if hasID, (try? container.decodeNil(forKey: .id)) != true {
                idIsNull = false
                id = try? container.decode(ID.self, forKey: .id)
            }
            hasMethod = container.contains(.method)
            method = try? container.decode(String.self, forKey: .method)
            if container.contains(.params) {
                paramsKind = (try? container.decode(KindProbe.self, forKey: .params))?.kind
            }
            hasResult = container.contains(.result)
            hasError = container.contains(.error)
            if hasError { errorIsValid = (try? container.decode(MCPError.self, forKey: .error)) != nil }
            if let method, paramsKind == nil || paramsKind == .object {
                paramsProblem = Self.problem(method: method, container: container, hasID: hasID)
                if method == CancelledNotification.name, !hasID {
                    cancelledID = (try? container.decode(CancelledNotification.Parameters.self, forKey: .params))?.requestId
                }
            }
        }

        /// Checks the params of the methods the server handles, as the SDK's typed handlers decode them.
        private static func problem(method: String, container: KeyedDecodingContainer<Keys>, hasID: Bool) -> String? {
            let present = container.contains(.params)
            switch (method, hasID) {
            case (Initialize.name, true):
                guard present else { return "params is required for initialize." }
                return decodingProblem(Initialize.Parameters.self, container)
            case (ListTools.name, true):
                return present ? decodingProblem(ListTools.Parameters.self, container) : nil
            case (Ping.name, true):
                return present ? decodingProblem(Empty.self, container) : nil
            case (CancelledNotification.name, false):
                guard present else { return "params is required for notifications/cancelled." }
                return decodingProblem(CancelledNotification.Parameters.self, container)
            default:
                return nil
            }
        }

        private static func decodingProblem<T: Decodable>(_ type: T.Type, _ container: KeyedDecodingContainer<Keys>) -> String? {
            do {
                _ = try container.decode(T.self, forKey: .params)
                return nil
            } catch let error as DecodingError {
                return describe(error)
            } catch {
                return "params do not fit the method."
            }
        }

        /// A client-safe sentence for a decoding failure: which field, and what was wrong with it.
        private static func describe(_ error: DecodingError) -> String {
            func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
                let keys = (codingPath + (last.map { [$0] } ?? [])).map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }
                return keys.joined().drop(while: { $0 == "." }).description
            }
            switch error {
            case .keyNotFound(let key, let context):
                return "\(path(context.codingPath, key)) is required."
            case .typeMismatch(let type, let context):
                return "\(path(context.codingPath)) must be \(phrase(for: type))."
            case .valueNotFound(let type, let context):
                return "\(path(context.codingPath)) must be \(phrase(for: type)), not null."
            case .dataCorrupted(let context):
                return "\(path(context.codingPath)) is not valid here."
            @unknown default:
                return "params do not fit the method."
            }
        }

        private static func phrase(for type: Any.Type) -> String {
            switch type {
            case is String.Type: "a string"
            case is Bool.Type: "a boolean"
            case is Int.Type, is Double.Type: "a number"
            case is [Any].Type: "an array"
            default: "an object"
            }
        }
    }

    /// Reads only what kind of value is there.
    struct KindProbe: Decodable {
        var kind: Kind

        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            if (try? decoder.container(keyedBy: AnyKey.self)) != nil {
                kind = .object
            } else if (try? decoder.unkeyedContainer()) != nil {
                kind = .array
            } else {
                let value = try decoder.singleValueContainer()
                if value.decodeNil() {
                    kind = .null
                } else if (try? value.decode(Bool.self)) != nil {
                    kind = .bool
                } else if (try? value.decode(String.self)) != nil {
                    kind = .string
                } else {
                    kind = .number
                }
            }
        }
    }
}
