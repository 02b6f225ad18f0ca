import BridgeCore
import Foundation
import MCP

/// The v1 tool table, built once at start from `schemas/v1/`: each tool's published input and output schema
/// (with `common.json` references inlined, so clients get self-contained schemas) and its argument validator.
public struct ToolCatalog: Sendable {
    /// One published tool.
    public struct Entry: Sendable {
        public let tool: Tool
        public let operation: BridgeOperation
        let validator: SchemaValidator
        let outputSchema: JSONValue
    }

    public let entries: [String: Entry]
    /// The tools in a stable order, as `tools/list` serves them.
    public let tools: [Tool]
    /// The `tools/list` result, `{"tools":[…]}`, encoded once: every session serves these bytes.
    public let listResult: Data

    /// Loads the schemas bundled with this build.
    public static func bundled() throws -> ToolCatalog {
        guard let directory = Bundle.module.url(forResource: "schemas", withExtension: nil)?.appendingPathComponent("v1") else {
            throw BridgeError(.internal, .internalError, "The schemas/v1 resource is missing from this build.")
        }
        return try ToolCatalog(directory: directory)
    }

    /// Loads `<tool>.input.json` / `<tool>.output.json` for every operation from a folder.
    public init(directory: URL) throws {
        func load(_ name: String) throws -> JSONValue {
            let url = directory.appendingPathComponent(name)
            do {
                return try JSONParser.parse(Data(contentsOf: url))
            } catch {
                throw BridgeError(.internal, .internalError, "Cannot load schema \(url.path): \(error)")
            }
        }
        let common = try load("common.json")
        let definitions = common["$defs"]?.objectValue ?? [:]
        var entries: [String: Entry] = [:]
        var tools: [Tool] = []
        for operation in BridgeOperation.allCases {
            let name = operation.rawValue
            let input = Self.inline(try load("\(name).input.json"), definitions: definitions)
            let output = Self.inline(try load("\(name).output.json"), definitions: definitions)
            let description = input["description"]?.stringValue
            let title = input["title"]?.stringValue
            let tool = Tool(
                name: name,
                title: title,
                description: description,
                inputSchema: Self.sdkValue(input),
                annotations: .init(
                    readOnlyHint: !operation.isMutating,
                    destructiveHint: false,
                    idempotentHint: operation.isMutating ? true : nil,
                    openWorldHint: false
                ),
                outputSchema: Self.sdkValue(output)
            )
            entries[name] = Entry(tool: tool, operation: operation, validator: SchemaValidator(schema: input), outputSchema: output)
            tools.append(tool)
        }
        self.entries = entries
        self.tools = tools
        do {
            listResult = try JSONEncoder().encode(ListTools.Result(tools: tools))
        } catch {
            throw BridgeError(.internal, .internalError, "Cannot encode the tool list: \(error)")
        }
    }

    /// The SDK's form of a schema, for its `Tool`; built directly, so no string is reinterpreted on the way.
    static func sdkValue(_ value: JSONValue) -> Value {
        switch value {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .number(let number): Int(number.literal).map(Value.int) ?? .double(number.doubleValue)
        case .string(let text): .string(text)
        case .array(let items): .array(items.map(sdkValue))
        case .object(let members): .object(members.mapValues(sdkValue))
        }
    }

    /// Replaces `{"$ref": "common.json#/$defs/X", …}` with definition X, keeping the sibling keywords.
    static func inline(_ schema: JSONValue, definitions: [String: JSONValue]) -> JSONValue {
        switch schema {
        case .object(var object):
            if case .string(let reference)? = object["$ref"], let name = reference.split(separator: "/").last,
                let definition = definitions[String(name)]
            {
                object.removeValue(forKey: "$ref")
                var merged = inline(definition, definitions: definitions).objectValue ?? [:]
                for (key, value) in object { merged[key] = inline(value, definitions: definitions) }
                return .object(merged)
            }
            return .object(object.mapValues { inline($0, definitions: definitions) })
        case .array(let items):
            return .array(items.map { inline($0, definitions: definitions) })
        default:
            return schema
        }
    }

    /// Validates arguments against a tool's input schema.
    func validate(_ arguments: JSONValue, for entry: Entry) throws(BridgeError) {
        try entry.validator.validate(arguments)
    }

    /// The output schema validator of a tool, for tests that check results conform.
    public func outputValidator(for name: String) -> (@Sendable (JSONValue) throws -> Void)? {
        guard let schema = entries[name]?.outputSchema else { return nil }
        let validator = SchemaValidator(schema: schema)
        return { value in try validator.validate(value) }
    }
}
