import Foundation

extension ClientMount {
    /// The `[mcp_servers.agent-bridge]` table of Codex's `config.toml`, as `--print` shows it.
    public var codexTable: String {
        let variables = sortedEnvironment.map { "\(Self.tomlKey($0.name)) = \(Self.tomlString($0.value))" }
        return """
            [mcp_servers.\(Self.serverName)]
            command = \(Self.tomlString(command))
            args = [\(arguments.map(Self.tomlString).joined(separator: ", "))]
            env = {\(variables.isEmpty ? "" : " " + variables.joined(separator: ", ") + " ")}
            startup_timeout_sec = \(Self.codexStartupTimeoutSeconds)
            tool_timeout_sec = \(Self.codexToolTimeoutSeconds)

            """
    }

    /// `existing` (the text of a `config.toml`) with this server's table in place of any earlier one (and its
    /// sub-tables, such as `[mcp_servers.agent-bridge.env]`), or appended; every other line is kept as it was.
    /// Refuses a file that defines the server with dotted keys or an inline table, which cannot be replaced
    /// line by line.
    public func codexConfiguration(merging existing: String, file: String) throws(Failure) -> String {
        var lines = existing.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let table = codexTable.split(separator: "\n").map(String.init)

        var output: [String] = []
        var inserted = false
        var replacing = false
        // Comments and blank lines met while replacing: kept if they turn out to precede the next table.
        var heldBack: [String] = []
        var section: [String] = []
        var openMultilineString: String?

        for (index, line) in lines.enumerated() {
            if let delimiter = openMultilineString {
                if !replacing { output.append(line) }
                if Self.occurrences(of: delimiter, in: line) % 2 == 1 { openMultilineString = nil }
                continue
            }
            let trimmed = line.trimmingWhitespace()
            if trimmed.hasPrefix("["), let path = Self.tablePath(trimmed) {
                section = path
                if path.count >= 2 && path[0] == "mcp_servers" && path[1] == Self.serverName {
                    if !inserted {
                        output.append(contentsOf: table)
                        inserted = true
                    }
                    replacing = true
                    heldBack = []
                } else {
                    if replacing {
                        if heldBack.first?.trimmingWhitespace().isEmpty != true { output.append("") }
                        output.append(contentsOf: heldBack)
                        heldBack = []
                        replacing = false
                    }
                    output.append(line)
                }
                continue
            }
            if replacing {
                if trimmed.isEmpty || trimmed.hasPrefix("#") { heldBack.append(line) } else { heldBack = [] }
            } else {
                if let key = Self.keyPath(trimmed) {
                    let full = section + key
                    if full.count >= 2 && full[0] == "mcp_servers" && full[1] == Self.serverName {
                        throw Failure(
                            """
                            \(file):\(index + 1): \(Self.serverName) is defined with dotted keys or an inline table; \
                            remove that definition, then run this again. Nothing was written.
                            """
                        )
                    }
                }
                output.append(line)
            }
            for delimiter in ["\"\"\"", "'''"] where Self.occurrences(of: delimiter, in: line) % 2 == 1 {
                openMultilineString = delimiter
                break
            }
        }
        if replacing { output.append(contentsOf: heldBack) }
        if !inserted {
            if let last = output.last, !last.trimmingWhitespace().isEmpty { output.append("") }
            output.append(contentsOf: table)
        }
        return output.joined(separator: "\n") + "\n"
    }

    // MARK: - TOML, as much as a table header and a key need

    /// A TOML basic string.
    static func tomlString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// A key, bare when TOML allows it, else quoted.
    static func tomlKey(_ key: String) -> String {
        let bare =
            !key.isEmpty
            && key.unicodeScalars.allSatisfy { scalar in
                ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
            }
        return bare ? key : tomlString(key)
    }

    /// The dotted path of a `[table]` or `[[array of tables]]` header line, or nil when it is not one.
    static func tablePath(_ line: String) -> [String]? {
        var rest = Substring(line)
        let isArray = rest.hasPrefix("[[")
        rest = rest.dropFirst(isArray ? 2 : 1)
        guard let (path, end) = parseKey(rest, terminator: "]") else { return nil }
        var after = rest[end...].dropFirst()
        if isArray {
            guard after.hasPrefix("]") else { return nil }
            after = after.dropFirst()
        }
        let tail = after.trimmingWhitespace()
        return tail.isEmpty || tail.hasPrefix("#") ? path : nil
    }

    /// The dotted key of a `key = value` line, or nil when the line is not one.
    static func keyPath(_ line: String) -> [String]? {
        guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
        return parseKey(Substring(line), terminator: "=")?.path
    }

    /// Reads a dotted key (bare, "basic" or 'literal' parts) up to `terminator`; the path and where it stopped.
    private static func parseKey(_ text: Substring, terminator: Character) -> (path: [String], end: Substring.Index)? {
        var path: [String] = []
        var index = text.startIndex
        var expectingPart = true
        while index < text.endIndex {
            let character = text[index]
            if character == " " || character == "\t" {
                index = text.index(after: index)
            } else if character == terminator {
                return expectingPart || path.isEmpty ? nil : (path, index)
            } else if character == "." {
                guard !expectingPart else { return nil }
                expectingPart = true
                index = text.index(after: index)
            } else if expectingPart && (character == "\"" || character == "'") {
                var part = ""
                index = text.index(after: index)
                var closed = false
                while index < text.endIndex {
                    let next = text[index]
                    if next == character {
                        closed = true
                        index = text.index(after: index)
                        break
                    }
                    if next == "\\" && character == "\"" {
                        index = text.index(after: index)
                        guard index < text.endIndex else { return nil }
                        part.append(text[index])
                    } else {
                        part.append(next)
                    }
                    index = text.index(after: index)
                }
                guard closed else { return nil }
                path.append(part)
                expectingPart = false
            } else if expectingPart && (character.isLetter || character.isNumber || character == "_" || character == "-") {
                var part = ""
                while index < text.endIndex, text[index].isLetter || text[index].isNumber || text[index] == "_" || text[index] == "-" {
                    part.append(text[index])
                    index = text.index(after: index)
                }
                path.append(part)
                expectingPart = false
            } else {
                return nil
            }
        }
        return nil
    }

    private static func occurrences(of delimiter: String, in line: String) -> Int {
        line.components(separatedBy: delimiter).count - 1
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    fileprivate func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
