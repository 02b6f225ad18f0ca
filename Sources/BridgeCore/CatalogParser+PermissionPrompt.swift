extension CatalogParser {
    /// `approvals.yaml`'s `permission_prompt:` section: tool rules in order, each with its command patterns,
    /// and the class of a tool no rule covers. Every class named must be one of `action_classes`, and every
    /// pattern must compile; an error names the line.
    static func parsePermissionPrompt(
        _ section: CatalogNode,
        actionClasses: [String: PolicyCatalog.ApprovalRule]
    ) throws(CatalogError) -> PermissionPromptRules {
        try section.keys(["tools", "default_action_class"])
        func knownClass(_ node: CatalogNode) throws(CatalogError) -> String {
            let name = try node.string()
            guard actionClasses[name] != nil else {
                throw node.error("unknown action class '\(name)'; action_classes are \(actionClasses.keys.sorted().joined(separator: ", "))")
            }
            return name
        }
        var rules: [PermissionPromptRules.ToolRule] = []
        for item in try section.required("tools").items() {
            try item.keys(["match", "action_class", "resource", "commands"])
            let matchNode = try item.required("match")
            let names = try matchNode.strings()
            guard !names.isEmpty else { throw matchNode.error("match needs at least one tool name or glob") }
            for name in names where name.value.isEmpty {
                throw name.node.error("a tool name or glob must not be empty")
            }
            let actionClass = try knownClass(try item.required("action_class"))
            var resourceFields: [String] = []
            for field in try item.optional("resource")?.strings() ?? [] {
                guard !field.value.isEmpty else { throw field.node.error("a resource field name must not be empty") }
                resourceFields.append(field.value)
            }
            var commandRules: [PermissionPromptRules.CommandRule] = []
            for commandNode in try item.optional("commands")?.items() ?? [] {
                try commandNode.keys(["pattern", "action_class"])
                let patternNode = try commandNode.required("pattern")
                let pattern = try patternNode.string()
                let commandClass = try knownClass(try commandNode.required("action_class"))
                guard !pattern.isEmpty, let rule = PermissionPromptRules.CommandRule(pattern: pattern, actionClass: commandClass) else {
                    throw patternNode.error("'\(pattern)' is not a valid regular expression")
                }
                commandRules.append(rule)
            }
            rules.append(
                PermissionPromptRules.ToolRule(
                    names: names.map(\.value),
                    actionClass: actionClass,
                    resourceFields: resourceFields,
                    commandRules: commandRules
                )
            )
        }
        let defaultClass = try knownClass(try section.required("default_action_class"))
        return PermissionPromptRules(tools: rules, defaultActionClass: defaultClass)
    }
}
