import Foundation

/// How `v1_permission_prompt` maps a Claude Code tool call to an approval action class: the `permission_prompt`
/// section of `approvals.yaml`, with every pattern compiled once when the catalog loads.
///
/// Tool rules are tried in file order and the first whose name pattern matches decides the class. A rule may list
/// command patterns (regular expressions searched in the call's resource, for Bash its command line): the first
/// that matches takes its own class instead, and a denial of that class says ``Reason/destructiveCommand``.
/// A tool no rule names takes ``defaultActionClass``; a catalog without the section has no rules and no default,
/// and every prompt is denied.
public struct PermissionPromptRules: Sendable {
    /// One `tools:` entry: which tool names it covers, their class, and where their resource is in the input.
    public struct ToolRule: Sendable {
        /// Tool names or globs, as written in the catalog.
        public var names: [String]
        public var actionClass: String
        /// Input fields whose string values, joined by a space, are the ticket's resource.
        public var resourceFields: [String]
        public var commandRules: [CommandRule]
        let compiledNames: [ToolNamePattern]

        public init(names: [String], actionClass: String, resourceFields: [String] = [], commandRules: [CommandRule] = []) {
            self.names = names
            self.actionClass = actionClass
            self.resourceFields = resourceFields
            self.commandRules = commandRules
            self.compiledNames = names.map(ToolNamePattern.init)
        }

        /// Whether the rule covers a tool name.
        public func covers(_ toolName: String) -> Bool {
            compiledNames.contains { $0.matches(toolName) }
        }
    }

    /// One `commands:` entry of a tool rule: a regular expression and the class a matching command takes.
    public struct CommandRule: Sendable {
        /// The regular expression as written in the catalog.
        public var pattern: String
        public var actionClass: String
        let expression: CommandExpression

        /// Compiles the pattern; nil when it is not a valid regular expression.
        public init?(pattern: String, actionClass: String) {
            guard let expression = CommandExpression(pattern) else { return nil }
            self.pattern = pattern
            self.actionClass = actionClass
            self.expression = expression
        }

        /// Whether the pattern occurs anywhere in `text`.
        public func matches(_ text: String) -> Bool { expression.matches(text) }
    }

    /// Where a tool call lands: its action class, the resource a ticket names, and the command rule that
    /// chose the class, if one did.
    public struct Classification: Sendable, Hashable {
        public var actionClass: String
        public var resource: String
        /// The command pattern that matched, when a command rule (not the tool rule) chose the class.
        public var matchedCommandPattern: String?

        public init(actionClass: String, resource: String, matchedCommandPattern: String? = nil) {
            self.actionClass = actionClass
            self.resource = resource
            self.matchedCommandPattern = matchedCommandPattern
        }
    }

    /// The longest resource a ticket gets; a longer command or path is cut, with an ellipsis, after the
    /// command patterns have seen all of it.
    public static let maxResourceCharacters = 1000

    public var tools: [ToolRule]
    /// The class of a tool no rule covers; nil only when the catalog has no `permission_prompt` section.
    public var defaultActionClass: String?

    public init(tools: [ToolRule], defaultActionClass: String?) {
        self.tools = tools
        self.defaultActionClass = defaultActionClass
    }

    /// No rules at all: the catalog has no `permission_prompt` section.
    public static let none = PermissionPromptRules(tools: [], defaultActionClass: nil)

    /// The action class and resource of one tool call; nil when the catalog has no rule and no default for it.
    public func classify(toolName: String, input: [String: JSONValue]) -> Classification? {
        guard let rule = tools.first(where: { $0.covers(toolName) }) else {
            return defaultActionClass.map { Classification(actionClass: $0, resource: Self.shortened(toolName)) }
        }
        let values = rule.resourceFields.compactMap { input[$0]?.stringValue }.filter { !$0.isEmpty }
        let resource = values.isEmpty ? toolName : values.joined(separator: " ")
        if let command = rule.commandRules.first(where: { $0.matches(resource) }) {
            return Classification(actionClass: command.actionClass, resource: Self.shortened(resource), matchedCommandPattern: command.pattern)
        }
        return Classification(actionClass: rule.actionClass, resource: Self.shortened(resource))
    }

    static func shortened(_ text: String) -> String {
        text.count <= maxResourceCharacters ? text : String(text.prefix(maxResourceCharacters - 1)) + "…"
    }
}

/// A tool name or a glob in which `*` matches any run of characters, split into its literal parts once.
struct ToolNamePattern: Sendable, Hashable {
    let parts: [Substring]

    init(_ pattern: String) {
        parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
    }

    func matches(_ name: String) -> Bool {
        guard parts.count > 1 else { return name == parts[0] }
        guard name.hasPrefix(parts[0]), name.dropFirst(parts[0].count).hasSuffix(parts[parts.count - 1]) else { return false }
        var rest = name.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let found = rest.range(of: part) else { return false }
            rest = rest[found.upperBound...]
        }
        return true
    }
}

/// A compiled regular expression. `NSRegularExpression` is immutable once built and safe to share across threads.
struct CommandExpression: @unchecked Sendable {
    let regex: NSRegularExpression

    init?(_ pattern: String) {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        self.regex = regex
    }

    func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
