/// The policy catalog: the YAML files under `catalog/`, parsed and validated (ARCHITECTURE.md, Identity and policy).
///
/// `policy.yaml` holds timings, limits and rate limits; `roles.yaml` which roles may call which tools and
/// request which transitions; `approvals.yaml` the rule for each approval action class.
public struct PolicyCatalog: Sendable {
    /// The hybrid-policy timings, read by the supervisor (ARCHITECTURE.md, Supervisor).
    public struct Timings: Sendable, Hashable {
        public var pollInterval: Duration = .seconds(5)
        public var triggerAckTimeout: Duration = .seconds(8)
        public var triggerRetriesBeforeFallback = 2
        public var humanQuietWindow: Duration = .seconds(20)
        public var deferredRecheckInterval: Duration = .seconds(5)
        public var maxDeferWindow: Duration = .seconds(60)
        public var noProgressAutoBlockTurns = 20
        public var repeatedFindingAutoBlockCycles = 3
        public var resumeAttemptsBeforeSpawn = 2
        public var staleSessionCutoff: Duration = .seconds(12 * 3600)
        /// A target that heartbeated or called within this window, with presence `active`, is already awake.
        public var heartbeatFreshWindow: Duration = .seconds(30)
        /// How long the supervisor gathers a burst of post notifications before it acts on them.
        public var triggerDebounce: Duration = .milliseconds(20)
        /// The most wake processes one supervisor runs at once.
        public var maxConcurrentWakes = 8

        public init() {}
    }

    /// At most `count` calls in any `window`.
    public struct RateLimit: Sendable, Hashable {
        public var count: Int
        public var window: Duration

        public init(count: Int, window: Duration) {
            self.count = count
            self.window = window
        }
    }

    /// What one role may do.
    public struct RolePermissions: Sendable, Hashable {
        public var tools: Set<BridgeOperation>
        public var transitions: Set<ThreadStatus.Transition>
        /// Whether the role may still post to a blocked thread (the humans who unblock it).
        public var postWhenBlocked: Bool
        /// Whether the role acts on threads it has not joined (operators).
        public var bypassMembership: Bool

        public init(
            tools: Set<BridgeOperation>,
            transitions: Set<ThreadStatus.Transition>,
            postWhenBlocked: Bool = false,
            bypassMembership: Bool = false
        ) {
            self.tools = tools
            self.transitions = transitions
            self.postWhenBlocked = postWhenBlocked
            self.bypassMembership = bypassMembership
        }
    }

    /// The rule for one approval action class.
    public struct ApprovalRule: Sendable, Hashable {
        public enum Decision: String, Sendable, Hashable, CaseIterable {
            case allow
            case requireApproval = "require_approval"
            case deny
        }

        public var decision: Decision
        public var approverRoles: Set<Role>
        public var ttl: Duration
        public var escalateAfter: Duration?

        public init(decision: Decision, approverRoles: Set<Role> = [], ttl: Duration = .seconds(1800), escalateAfter: Duration? = nil) {
            self.decision = decision
            self.approverRoles = approverRoles
            self.ttl = ttl
            self.escalateAfter = escalateAfter
        }
    }

    public var timings: Timings
    public var limits: Limits
    /// Posts per participant; nil means unlimited.
    public var postRateLimit: RateLimit?
    public var roles: [Role: RolePermissions]
    public var actionClasses: [String: ApprovalRule]
    /// How the supervisor resumes and spawns each managed runtime.
    public var runtimes: RuntimeCatalog
    /// How `v1_permission_prompt` maps a Claude Code tool call to one of ``actionClasses``.
    public var permissionPrompt: PermissionPromptRules

    public init(
        timings: Timings,
        limits: Limits,
        postRateLimit: RateLimit?,
        roles: [Role: RolePermissions],
        actionClasses: [String: ApprovalRule],
        runtimes: RuntimeCatalog = RuntimeCatalog(runtimes: [:]),
        permissionPrompt: PermissionPromptRules = .none
    ) {
        self.timings = timings
        self.limits = limits
        self.postRateLimit = postRateLimit
        self.roles = roles
        self.actionClasses = actionClasses
        self.runtimes = runtimes
        self.permissionPrompt = permissionPrompt
    }

    /// The permissions of a role; a role the catalog does not list may do nothing.
    public func permissions(of role: Role) -> RolePermissions {
        roles[role] ?? RolePermissions(tools: [], transitions: [])
    }
}

extension Duration {
    /// Whole seconds, rounded down: the unit the wire and SQL intervals use.
    public var wholeSeconds: Int64 { components.seconds }

    /// Seconds with their fraction.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension PolicyCatalog.Timings {
    /// Where one `policy.yaml` timing lives, and whether it is a duration or a count.
    public enum Field: Sendable {
        case duration(WritableKeyPath<PolicyCatalog.Timings, Duration> & Sendable)
        case count(WritableKeyPath<PolicyCatalog.Timings, Int> & Sendable)
    }

    /// Every `policy.yaml` timing by its key, in file order: the catalog parser, drill files' overrides and
    /// recorded drills all read and write timings through this one table.
    public static let fields: [(key: String, field: Field)] = [
        ("poll_interval", .duration(\.pollInterval)),
        ("trigger_ack_timeout", .duration(\.triggerAckTimeout)),
        ("trigger_retries_before_fallback", .count(\.triggerRetriesBeforeFallback)),
        ("human_quiet_window", .duration(\.humanQuietWindow)),
        ("deferred_recheck_interval", .duration(\.deferredRecheckInterval)),
        ("max_defer_window", .duration(\.maxDeferWindow)),
        ("no_progress_auto_block_turns", .count(\.noProgressAutoBlockTurns)),
        ("repeated_finding_auto_block_cycles", .count(\.repeatedFindingAutoBlockCycles)),
        ("resume_attempts_before_spawn", .count(\.resumeAttemptsBeforeSpawn)),
        ("stale_session_cutoff", .duration(\.staleSessionCutoff)),
        ("heartbeat_fresh_window", .duration(\.heartbeatFreshWindow)),
        ("trigger_debounce", .duration(\.triggerDebounce)),
        ("max_concurrent_wakes", .count(\.maxConcurrentWakes)),
    ]
}
