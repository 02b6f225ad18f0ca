import Yams

/// A problem in a catalog file, located to its line: `roles.yaml:12: unknown tool 'v1_foo'`.
public struct CatalogError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var problem: String

    public init(file: String, line: Int?, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var description: String {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }
}

/// Parses the catalog's YAML texts (the caller reads the files). Strict: unknown keys, wrong types,
/// unknown tools, roles or transitions and unparsable durations are errors naming file and line.
public enum CatalogParser {
    /// The files a catalog folder holds, by name. `runtimes.yaml` may be left out: the built-in one applies.
    public static let fileNames = ["policy.yaml", "roles.yaml", "approvals.yaml", "runtimes.yaml"]
    static let requiredFileNames = ["policy.yaml", "roles.yaml", "approvals.yaml"]

    /// Parses the catalog files, given as file name → text.
    public static func parse(_ texts: [String: String]) throws(CatalogError) -> PolicyCatalog {
        for name in requiredFileNames where texts[name] == nil {
            throw CatalogError(file: name, line: nil, problem: "the file is missing from the catalog folder")
        }
        let policy = try document("policy.yaml", texts["policy.yaml"]!)
        let roles = try document("roles.yaml", texts["roles.yaml"]!)
        let approvals = try document("approvals.yaml", texts["approvals.yaml"]!)

        var timings = PolicyCatalog.Timings()
        var limits = Limits()
        var rateLimit: PolicyCatalog.RateLimit?
        try policy.keys(["timings", "limits", "rate_limits"])
        if let node = try policy.optional("timings") {
            try node.keys(PolicyCatalog.Timings.fields.map(\.key))
            for (key, field) in PolicyCatalog.Timings.fields {
                switch field {
                case .duration(let path): if let value = try node.duration(key) { timings[keyPath: path] = value }
                case .count(let path): if let value = try node.count(key) { timings[keyPath: path] = value }
                }
            }
            if timings.pollInterval < .milliseconds(100) {
                throw try node.required("poll_interval").error("poll_interval must be at least 100ms")
            }
            if timings.maxConcurrentWakes < 1 {
                throw try node.required("max_concurrent_wakes").error("max_concurrent_wakes must be at least 1")
            }
        }
        if let node = try policy.optional("limits") {
            try node.keys(["max_body_bytes", "max_payload_bytes", "max_wait_seconds", "max_read_limit"])
            limits.maxBodyBytes = try node.count("max_body_bytes") ?? limits.maxBodyBytes
            limits.maxPayloadBytes = try node.count("max_payload_bytes") ?? limits.maxPayloadBytes
            limits.maxWaitSeconds = Double(try node.count("max_wait_seconds") ?? Int(limits.maxWaitSeconds))
            limits.maxReadLimit = try node.count("max_read_limit") ?? limits.maxReadLimit
        }
        if let node = try policy.optional("rate_limits") {
            try node.keys(["message_post"])
            if let post = try node.optional("message_post") {
                try post.keys(["count", "window"])
                rateLimit = PolicyCatalog.RateLimit(count: try post.requiredCount("count"), window: try post.requiredDuration("window"))
            }
        }

        var permissions: [Role: PolicyCatalog.RolePermissions] = [:]
        try roles.keys(["roles"])
        for (name, node) in try roles.required("roles").mapping() {
            guard let role = Role(rawValue: name) else {
                throw node.error("unknown role '\(name)'; roles are \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try node.keys(["tools", "transitions", "post_when_blocked", "bypass_membership"])
            var tools: Set<BridgeOperation> = []
            for tool in try node.required("tools").strings() {
                guard let operation = BridgeOperation(rawValue: tool.value) else { throw tool.node.error("unknown tool '\(tool.value)'") }
                tools.insert(operation)
            }
            var transitions: Set<ThreadStatus.Transition> = []
            for transition in try node.optional("transitions")?.strings() ?? [] {
                guard let parsed = ThreadStatus.Transition(rawValue: transition.value) else {
                    throw transition.node.error("unknown transition '\(transition.value)'; transitions are escalate, unblock, close")
                }
                transitions.insert(parsed)
            }
            permissions[role] = PolicyCatalog.RolePermissions(
                tools: tools,
                transitions: transitions,
                postWhenBlocked: try node.optional("post_when_blocked")?.bool() ?? false,
                bypassMembership: try node.optional("bypass_membership")?.bool() ?? false
            )
        }

        var actionClasses: [String: PolicyCatalog.ApprovalRule] = [:]
        try approvals.keys(["action_classes", "permission_prompt"])
        for (name, node) in try approvals.required("action_classes").mapping() {
            guard Identity.isValidHandle(name) else { throw node.error("action class '\(name)' must be lower_snake_case") }
            try node.keys(["decision", "approver_roles", "ttl", "escalate_after"])
            let decisionNode = try node.required("decision")
            guard let decision = PolicyCatalog.ApprovalRule.Decision(rawValue: try decisionNode.string()) else {
                throw decisionNode.error("decision must be allow, require_approval or deny")
            }
            var approverRoles: Set<Role> = []
            for role in try node.optional("approver_roles")?.strings() ?? [] {
                guard let parsed = Role(rawValue: role.value) else { throw role.node.error("unknown role '\(role.value)'") }
                approverRoles.insert(parsed)
            }
            if decision == .requireApproval && approverRoles.isEmpty {
                throw node.error("require_approval needs approver_roles: nobody could decide these tickets")
            }
            actionClasses[name] = PolicyCatalog.ApprovalRule(
                decision: decision,
                approverRoles: approverRoles,
                ttl: try node.duration("ttl") ?? .seconds(1800),
                escalateAfter: try node.duration("escalate_after")
            )
        }
        let permissionPrompt = try approvals.optional("permission_prompt").map { node throws(CatalogError) in
            try parsePermissionPrompt(node, actionClasses: actionClasses)
        }
        let runtimes = try texts["runtimes.yaml"].map { text throws(CatalogError) in try parseRuntimes(document("runtimes.yaml", text)) }
        return PolicyCatalog(
            timings: timings,
            limits: limits,
            postRateLimit: rateLimit,
            roles: permissions,
            actionClasses: actionClasses,
            runtimes: runtimes ?? RuntimeCatalog(runtimes: [:]),
            permissionPrompt: permissionPrompt ?? .none
        )
    }

    /// `runtimes.yaml`: per managed runtime kind, argv templates for resume and spawn, where a spawn names
    /// its new session, and a timeout.
    static func parseRuntimes(_ document: CatalogNode) throws(CatalogError) -> RuntimeCatalog {
        try document.keys(["runtimes"])
        var runtimes: [RuntimeKind: RuntimeCatalog.Runtime] = [:]
        for (name, node) in try document.required("runtimes").mapping() {
            guard let kind = RuntimeKind(rawValue: name), kind != .human, kind != .none else {
                throw node.error("unknown runtime '\(name)'; runtimes are codex_cli, claude_code, command")
            }
            try node.keys(["resume", "spawn", "session_id", "timeout"])
            func template(_ key: String, allowSession: Bool) throws(CatalogError) -> [String]? {
                guard let list = try node.optional(key) else { return nil }
                let arguments = try list.strings()
                guard let first = arguments.first, !first.value.isEmpty else { throw list.error("\(key) needs at least the program to run") }
                for argument in arguments {
                    guard let names = RuntimeCatalog.placeholderNames(in: argument.value) else {
                        throw argument.node.error("unbalanced braces in '\(argument.value)'")
                    }
                    for placeholder in names {
                        guard RuntimeCatalog.placeholders.contains(placeholder) else {
                            throw argument.node.error(
                                "unknown placeholder {\(placeholder)}; use \(RuntimeCatalog.placeholders.map { "{\($0)}" }.joined(separator: ", "))"
                            )
                        }
                        if placeholder == "session_id" && !allowSession {
                            throw argument.node.error("{session_id} is only known when resuming")
                        }
                    }
                }
                if RuntimeCatalog.placeholderNames(in: first.value)?.isEmpty == false {
                    throw first.node.error("the program must be a fixed name or path, not a placeholder")
                }
                return arguments.map(\.value)
            }
            let resume = try template("resume", allowSession: true)
            guard let spawn = try template("spawn", allowSession: false) else { throw node.error("missing required key 'spawn'") }
            var source: RuntimeCatalog.SessionIDSource?
            if let sessionNode = try node.optional("session_id") {
                try sessionNode.keys(["json_event", "json_field", "field"])
                if let event = try sessionNode.optional("json_event") {
                    source = .jsonEvent(type: try event.string(), field: try sessionNode.required("field").string())
                } else if let field = try sessionNode.optional("json_field") {
                    source = .jsonField(try field.string())
                } else {
                    throw sessionNode.error("session_id needs json_event (with field) or json_field")
                }
            }
            runtimes[kind] = RuntimeCatalog.Runtime(
                resume: resume,
                spawn: spawn,
                sessionID: source,
                timeout: try node.duration("timeout") ?? .seconds(1800)
            )
        }
        return RuntimeCatalog(runtimes: runtimes)
    }

    /// Parses `500ms`, `8s`, `5m`, `12h`, `1d`.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, milliseconds) in units where text.hasSuffix(suffix) {
            guard let amount = Int64(text.dropLast(suffix.count)), amount >= 0 else { continue }
            return .milliseconds(amount * milliseconds)
        }
        return nil
    }

    private static func document(_ file: String, _ text: String) throws(CatalogError) -> CatalogNode {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw CatalogError(file: file, line: nil, problem: "the file is empty")
            }
            return CatalogNode(file: file, node: node)
        } catch let error as CatalogError {
            throw error
        } catch let error as YamlError {
            throw CatalogError(file: file, line: Self.line(of: error), problem: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw CatalogError(file: file, line: nil, problem: "not valid YAML")
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        default: "\(error)"
        }
    }
}

/// A YAML node that knows its file, for errors that point at a line.
struct CatalogNode {
    let file: String
    let node: Node

    func error(_ problem: String) -> CatalogError {
        CatalogError(file: file, line: node.mark?.line, problem: problem)
    }

    func mapping() throws(CatalogError) -> [(String, CatalogNode)] {
        guard let mapping = node.mapping else { throw error("expected a mapping of keys to values") }
        var pairs: [(String, CatalogNode)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw CatalogNode(file: file, node: key).error("keys must be strings") }
            pairs.append((name, CatalogNode(file: file, node: value)))
        }
        return pairs
    }

    /// Refuses keys outside `allowed`: a misspelt setting must not be silently ignored.
    func keys(_ allowed: [String]) throws(CatalogError) {
        for (key, value) in try mapping() where !allowed.contains(key) {
            throw value.error("unknown key '\(key)'; expected one of \(allowed.joined(separator: ", "))")
        }
    }

    func optional(_ key: String) throws(CatalogError) -> CatalogNode? {
        try mapping().first { $0.0 == key }?.1
    }

    func required(_ key: String) throws(CatalogError) -> CatalogNode {
        guard let found = try optional(key) else { throw error("missing required key '\(key)'") }
        return found
    }

    func string() throws(CatalogError) -> String {
        guard node.scalar != nil, let value = node.string else { throw error("expected a string") }
        return value
    }

    func bool() throws(CatalogError) -> Bool {
        guard let value = node.bool else { throw error("expected true or false") }
        return value
    }

    /// The items of a list, each with its own line.
    func items() throws(CatalogError) -> [CatalogNode] {
        guard let sequence = node.sequence else { throw error("expected a list") }
        return sequence.map { CatalogNode(file: file, node: $0) }
    }

    func strings() throws(CatalogError) -> [(value: String, node: CatalogNode)] {
        guard let sequence = node.sequence else { throw error("expected a list") }
        var values: [(String, CatalogNode)] = []
        for item in sequence {
            let child = CatalogNode(file: file, node: item)
            values.append((try child.string(), child))
        }
        return values
    }

    func count(_ key: String) throws(CatalogError) -> Int? {
        guard let child = try optional(key) else { return nil }
        guard let value = child.node.int, value >= 0 else { throw child.error("\(key) must be a whole number, 0 or more") }
        return value
    }

    func requiredCount(_ key: String) throws(CatalogError) -> Int {
        guard let value = try count(key) else { throw error("missing required key '\(key)'") }
        return value
    }

    func duration(_ key: String) throws(CatalogError) -> Duration? {
        guard let child = try optional(key) else { return nil }
        guard let text = child.node.string, let value = CatalogParser.parseDuration(text) else {
            throw child.error("\(key) must be a duration such as 500ms, 8s, 5m or 12h")
        }
        return value
    }

    func requiredDuration(_ key: String) throws(CatalogError) -> Duration {
        guard let value = try duration(key) else { throw error("missing required key '\(key)'") }
        return value
    }
}
