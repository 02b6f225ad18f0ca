import Foundation

extension ClientMount {
    /// The server's entry in `.mcp.json`'s `mcpServers`: `{"command": …, "args": ["serve"], "env": {…}}`.
    public var claudeServerEntry: JSONValue {
        .object([
            "command": .string(command),
            "args": .array(arguments.map(JSONValue.string)),
            "env": .object(environment.mapValues(JSONValue.string)),
        ])
    }

    /// A whole `.mcp.json` that mounts only this server, as `--print` shows it.
    public var claudeConfiguration: String {
        Self.prettyJSON(.object(["mcpServers": .object([Self.serverName: claudeServerEntry])]))
    }

    /// `existing` (the bytes of a project's `.mcp.json`) with this server's entry added or replaced, every other
    /// server and top-level member kept. Refuses, rather than overwrite, a file that is not a JSON object or
    /// whose `mcpServers` is not one.
    public func claudeConfiguration(merging existing: some Collection<UInt8>, file: String) throws(Failure) -> String {
        let root: JSONValue
        do {
            root = try JSONParser.parse(existing)
        } catch {
            throw Failure("\(file) is not valid JSON (\(error)); fix or move it, then run this again. Nothing was written.")
        }
        guard var members = root.objectValue else {
            throw Failure("\(file) does not hold a JSON object; fix or move it, then run this again. Nothing was written.")
        }
        var servers: [String: JSONValue] = [:]
        if let current = members["mcpServers"] {
            guard let object = current.objectValue else {
                throw Failure("\(file): \"mcpServers\" is not an object; fix or move it, then run this again. Nothing was written.")
            }
            servers = object
        }
        servers[Self.serverName] = claudeServerEntry
        members["mcpServers"] = .object(servers)
        return Self.prettyJSON(.object(members))
    }

    private static func prettyJSON(_ value: JSONValue) -> String {
        String(decoding: JSONWriter.data(value, prettyPrinted: true), as: UTF8.self) + "\n"
    }
}
