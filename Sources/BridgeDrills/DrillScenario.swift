import BridgeCore
import Foundation
import Yams

/// One incident as a replayable file (`runbooks/drills/NAME.yaml`, ARCHITECTURE.md, Runbooks and drills): who takes part, which threads
/// exist, a timed sequence of events on a virtual clock, and the end state expected. The signals to check
/// are the ones its runbook page lists (or the subset named in `expect.signals`).
public struct DrillScenario: Codable, Sendable, Hashable {
    /// The file's name without `.yaml`.
    public var name: String
    /// The runbook page this drill proves, a file name under `runbooks/`.
    public var runbook: String
    /// One or two sentences: what happens.
    public var summary: String
    /// `scratch` (default): a throw-away database on the usual server. `private_cluster`: a throw-away
    /// PostgreSQL cluster of its own, for drills that stop the database.
    public var database: DatabaseMode?
    /// Overrides of `policy.yaml` timings, e.g. `trigger_ack_timeout: 8s`; a recorded drill holds all of them.
    public var timings: [String: String]?
    public var participants: [Participant]
    public var threads: [ThreadSpec]
    public var steps: [Step]
    public var expect: Expectations

    public enum DatabaseMode: String, Codable, Sendable, Hashable {
        case scratch
        case privateCluster = "private_cluster"
    }

    /// A participant, registered before the first step.
    public struct Participant: Codable, Sendable, Hashable {
        public var handle: String
        public var role: String
        /// How the supervisor may wake it; absent: no runtime (not managed).
        public var runtime: Runtime?
        /// What its wake processes do, one entry per attempt in order (the last repeats):
        /// `ok` (exits 0, and the agent's turn reads and acks), `silent` (exits 0, never calls in),
        /// `fail` (exits 1), `hang` (runs until stopped).
        public var outcomes: [String]?

        public struct Runtime: Codable, Sendable, Hashable {
            public var kind: String
            public var managed: Bool
            public var sessionID: String?
            enum CodingKeys: String, CodingKey {
                case kind, managed
                case sessionID = "session_id"
            }
        }
    }

    /// A thread created before the first step; steps name it by `name`.
    public struct ThreadSpec: Codable, Sendable, Hashable {
        public var name: String
        public var title: String
        public var creator: String
        /// Members besides the creator, joined as executioners unless they are listed participants with another role.
        public var members: [String]
        public var autonomous: Bool?
    }

    /// One event, at `at` on the virtual clock since the drill began (`0s`, `90s`, `5m`). Exactly one action is set.
    public struct Step: Codable, Sendable, Hashable {
        public var at: String
        public var post: Post?
        public var call: Call?
        public var heartbeat: HeartbeatStep?
        public var ack: AckStep?
        public var outcomes: [String: [String]]?
        public var `operator`: OperatorStep?
        public var database: String?
        public var lock: LockStep?
        public var note: String?

        public init(at: String) {
            self.at = at
        }

        /// A `v1_message_post` by `as` into `thread`.
        public struct Post: Codable, Sendable, Hashable {
            public var `as`: String
            public var thread: String
            public var kind: String?
            public var to: [String]?
            public var body: String
            /// `OK` (the default) or the reason code the call must fail with.
            public var expect: String?
        }

        /// Any v1 tool call; `thread` fills `thread_id`; `token` makes the caller present a token:
        /// `valid`, `expired`, `mis_signed` or `issuer_down` (the key file cannot be read).
        public struct Call: Codable, Sendable, Hashable {
            public var `as`: String
            public var tool: String
            public var thread: String?
            public var role: String?
            public var args: JSONValue?
            public var token: String?
            public var expect: String?
        }

        /// A heartbeat from `as`, stamped at the virtual time; `human_input: true` says a human typed.
        public struct HeartbeatStep: Codable, Sendable, Hashable {
            public var `as`: String
            public var presence: String?
            public var humanInput: Bool?
            enum CodingKeys: String, CodingKey {
                case `as`, presence
                case humanInput = "human_input"
            }
        }

        /// `as` reads `thread` to its end and acks it: an agent's turn.
        public struct AckStep: Codable, Sendable, Hashable {
            public var `as`: String
            public var thread: String
        }

        /// An operator command: `escalate`, `unblock` or `close` (reason `human_override:…`).
        public struct OperatorStep: Codable, Sendable, Hashable {
            public var action: String
            public var thread: String
            public var reason: String
        }

        /// Another session holds (`hold: true`) or releases the row lock of `thread`.
        public struct LockStep: Codable, Sendable, Hashable {
            public var thread: String
            public var hold: Bool
        }
    }

    /// What must be true when the drill ends.
    public struct Expectations: Codable, Sendable, Hashable {
        /// The runbook signals this drill proves; absent: every signal its page lists.
        public var signals: [String]?
        /// Each participant's wake requests, oldest first, by final state (`acked`, `dead`, …).
        public var wakes: [String: [String]]?
        /// Each thread's final status and message count.
        public var threads: [String: ThreadEnd]?

        public struct ThreadEnd: Codable, Sendable, Hashable {
            public var status: String?
            public var messages: Int?
        }

        public init(signals: [String]?, wakes: [String: [String]]?, threads: [String: ThreadEnd]?) {
            self.signals = signals
            self.wakes = wakes
            self.threads = threads
        }
    }
}

extension DrillScenario {
    /// Parses a scenario file's text; the error names what is wrong.
    public static func parse(_ text: String, name: String) throws(DrillError) -> DrillScenario {
        do {
            var scenario = try YAMLDecoder().decode(DrillScenario.self, from: text)
            if scenario.name.isEmpty { scenario.name = name }
            try scenario.validate()
            return scenario
        } catch let error as DrillError {
            throw error
        } catch {
            throw DrillError("\(name).yaml: \(String(describing: error))")
        }
    }

    /// The YAML text of this scenario.
    public func yaml() throws(DrillError) -> String {
        do {
            return try YAMLEncoder().encode(self)
        } catch {
            throw DrillError("cannot write the scenario as YAML: \(error)")
        }
    }

    /// Checks references and times before anything runs.
    func validate() throws(DrillError) {
        let handles = Set(participants.map(\.handle))
        let threadNames = Set(threads.map(\.name))
        for participant in participants {
            guard Role(rawValue: participant.role) != nil else {
                throw DrillError("\(name): participant \(participant.handle) has unknown role \(participant.role)")
            }
            for outcome in participant.outcomes ?? [] where DrillRuntime.Outcome(rawValue: outcome) == nil {
                throw DrillError("\(name): outcome \(outcome) of \(participant.handle) is not ok, silent, fail or hang")
            }
        }
        for thread in threads {
            for handle in [thread.creator] + thread.members where !handles.contains(handle) {
                throw DrillError("\(name): thread \(thread.name) names \(handle), who is not a participant")
            }
        }
        var last = Duration.zero
        for (index, step) in steps.enumerated() {
            guard let at = CatalogParser.parseDuration(step.at) else { throw DrillError("\(name): step \(index + 1) has a bad time \(step.at)") }
            guard at >= last else { throw DrillError("\(name): step \(index + 1) at \(step.at) comes before the step above it") }
            last = at
            let actions: [Bool] = [
                step.post != nil, step.call != nil, step.heartbeat != nil, step.ack != nil, step.outcomes != nil,
                step.operator != nil, step.database != nil, step.lock != nil, step.note != nil,
            ]
            guard actions.filter({ $0 }).count == 1 else { throw DrillError("\(name): step \(index + 1) must have exactly one action") }
            for thread in [step.post?.thread, step.call?.thread, step.ack?.thread, step.operator?.thread, step.lock?.thread].compactMap({ $0 })
            where !threadNames.contains(thread) {
                throw DrillError("\(name): step \(index + 1) names thread \(thread), which the scenario does not create")
            }
            for handle in [step.post?.as, step.call?.as, step.heartbeat?.as, step.ack?.as].compactMap({ $0 }) where !handles.contains(handle) {
                throw DrillError("\(name): step \(index + 1) acts as \(handle), who is not a participant")
            }
            if let database = step.database, database != "stop" && database != "start" {
                throw DrillError("\(name): step \(index + 1): database is stop or start, not \(database)")
            }
            if step.database != nil && database != .privateCluster {
                throw DrillError("\(name): step \(index + 1) stops or starts the database; set `database: private_cluster`")
            }
        }
    }

    /// The time of a step on the virtual clock since the drill began.
    func offset(of step: Step) -> Duration {
        CatalogParser.parseDuration(step.at) ?? .zero
    }
}

/// A drill that cannot run (a bad file, a database that cannot be prepared), as opposed to a failed check.
public struct DrillError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
