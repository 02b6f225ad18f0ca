import Foundation

/// How the supervisor starts each managed runtime: `catalog/runtimes.yaml` (ARCHITECTURE.md, Supervisor).
///
/// Each runtime has argv templates, never a shell line: a placeholder fills part of one argument and can
/// never split it or start another command, whatever a handle, session id or prompt contains.
public struct RuntimeCatalog: Sendable, Hashable {
    /// The commands of one runtime kind.
    public struct Runtime: Sendable, Hashable {
        /// Resumes the recorded session; nil: this runtime cannot resume, so every wake spawns.
        public var resume: [String]?
        /// Starts a fresh session.
        public var spawn: [String]
        /// Where a spawn's output names the new session.
        public var sessionID: SessionIDSource?
        /// The longest a wake process may run before it is stopped.
        public var timeout: Duration

        public init(resume: [String]?, spawn: [String], sessionID: SessionIDSource?, timeout: Duration) {
            self.resume = resume
            self.spawn = spawn
            self.sessionID = sessionID
            self.timeout = timeout
        }
    }

    /// Where to find a new session id in a process's stdout.
    ///
    /// Both CLIs stream one JSON event per line and name the session in their first event, so the id is
    /// looked for line by line while the process runs (``SessionIDScanner``), not only once it has exited.
    public enum SessionIDSource: Sendable, Hashable {
        /// JSON lines: the first event whose `type` is `event` carries the id in `field` (Codex `exec --json`:
        /// `thread.started`, `thread_id`; Claude Code `--output-format stream-json`: `system`, `session_id`).
        case jsonEvent(type: String, field: String)
        /// A JSON object (one line of the output, or the whole output) carries the id in `field`.
        case jsonField(String)

        /// The session id in one line of output, if that line is a JSON object that names it.
        public func sessionID(inLine line: some Collection<UInt8>) -> String? {
            guard let object = (try? JSONParser.parse(line))?.objectValue else { return nil }
            return sessionID(in: object)
        }

        /// The session id in `output`: the first line that names it, else the whole output read as one JSON object
        /// (a pretty-printed result).
        public func find(in output: String) -> String? {
            for line in output.utf8.split(separator: UInt8(ascii: "\n")) {
                if let id = sessionID(inLine: line) { return id }
            }
            guard let object = (try? JSONParser.parse(output.utf8))?.objectValue else { return nil }
            return sessionID(in: object)
        }

        private func sessionID(in object: [String: JSONValue]) -> String? {
            switch self {
            case .jsonEvent(let type, let field):
                guard object["type"]?.stringValue == type else { return nil }
                return object[field]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            case .jsonField(let field):
                return object[field]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            }
        }
    }

    /// The values a template may use, as `{name}`.
    public struct Values: Sendable, Hashable {
        public var handle: String
        public var threadID: String
        public var seq: Int64
        public var sessionID: String?
        public var prompt: String
        public var workdir: String
        public var requestID: String

        public init(handle: String, threadID: String, seq: Int64, sessionID: String?, prompt: String, workdir: String, requestID: String) {
            self.handle = handle
            self.threadID = threadID
            self.seq = seq
            self.sessionID = sessionID
            self.prompt = prompt
            self.workdir = workdir
            self.requestID = requestID
        }

        func value(of name: String) -> String? {
            switch name {
            case "handle": handle
            case "thread_id": threadID
            case "seq": String(seq)
            case "session_id": sessionID
            case "prompt": prompt
            case "workdir": workdir
            case "request_id": requestID
            default: nil
            }
        }
    }

    /// The placeholders templates may use.
    public static let placeholders = ["handle", "thread_id", "seq", "session_id", "prompt", "workdir", "request_id"]

    public var runtimes: [RuntimeKind: Runtime]

    public init(runtimes: [RuntimeKind: Runtime]) {
        self.runtimes = runtimes
    }

    /// The placeholder names in one template argument, in order; nil when a brace is unbalanced.
    public static func placeholderNames(in argument: String) -> [String]? {
        var names: [String] = []
        var current: String?
        for character in argument {
            switch character {
            case "{":
                if current != nil { return nil }
                current = ""
            case "}":
                guard let name = current else { return nil }
                names.append(name)
                current = nil
            default:
                current?.append(character)
            }
        }
        return current == nil ? names : nil
    }

    /// Fills a template's placeholders; each template argument stays exactly one argument.
    public static func expand(_ template: [String], with values: Values) -> [String] {
        template.map { argument in
            var result = ""
            var rest = Substring(argument)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                result += rest[..<open]
                let name = String(rest[rest.index(after: open)..<close])
                result += values.value(of: name) ?? ""
                rest = rest[rest.index(after: close)...]
            }
            return result + rest
        }
    }

    /// The prompt a woken agent gets: which thread and seq to read, and with which tools.
    public static func wakePrompt(handle: String, threadID: String, seq: Int64, cursor: Int64) -> String {
        """
        agent-bridge: new messages for you (\(handle)) in thread \(threadID), up to seq \(seq). \
        Read them with the v1_message_read tool (thread_id "\(threadID)", after_seq \(cursor)), act on them, \
        answer with v1_message_post, then call v1_message_ack with seq \(seq). \
        v1_inbox lists anything else unread for you.
        """
    }
}
