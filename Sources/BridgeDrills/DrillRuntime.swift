import BridgeCore
import Foundation

/// The stand-in agent runtime of a drill: every runtime kind runs one small `/bin/sh` script (argv, no shell
/// line is built from data) that plays the next scripted outcome of the woken participant.
struct DrillRuntime: Sendable {
    /// What one wake process does.
    enum Outcome: String, Sendable {
        /// Exits 0; the drill then plays the agent's turn (read to the end, ack).
        case ok
        /// Exits 0 and never calls in.
        case silent
        /// Exits 1.
        case fail
        /// Runs until the supervisor stops it.
        case hang
    }

    /// Where outcome lists, attempt counters and turn markers live.
    let directory: String

    static let script = """
        f="$3/$1"; n=$(cat "$f.count" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$f.count"
        o=$(sed -n "${n}p" "$f.outcomes" 2>/dev/null); [ -n "$o" ] || o=$(tail -n 1 "$f.outcomes" 2>/dev/null); [ -n "$o" ] || o=ok
        echo "$2 $o" >> "$f.log"
        case "$o" in
          fail) echo "drill runtime: $2 failed" >&2; exit 1;;
          hang) exec sleep 300;;
        esac
        if [ "$2" = spawn ]; then
          echo "{\\"type\\":\\"thread.started\\",\\"thread_id\\":\\"drill-$1-$n\\"}"
          echo "{\\"type\\":\\"system\\",\\"subtype\\":\\"init\\",\\"session_id\\":\\"drill-$1-$n\\"}"
        fi
        if [ "$o" = ok ]; then
          # The agent's turn: the drill reads and acks as this participant, then lets the process end.
          echo "$n" >> "$f.turns"; i=0
          while [ ! -e "$f.played.$n" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
        fi
        exit 0
        """

    /// The runtime catalog the drill's supervisor uses: the same session-id sources as the real runtimes,
    /// every command replaced by the script.
    func catalog(basedOn real: RuntimeCatalog) -> RuntimeCatalog {
        var runtimes: [RuntimeKind: RuntimeCatalog.Runtime] = [:]
        for (kind, runtime) in real.runtimes {
            func argv(_ action: String) -> [String] { ["/bin/sh", "-c", Self.script, "drill-runtime", "{handle}", action, directory] }
            runtimes[kind] = RuntimeCatalog.Runtime(
                resume: runtime.resume == nil ? nil : argv("resume"),
                spawn: argv("spawn"),
                sessionID: runtime.sessionID,
                timeout: .seconds(60)
            )
        }
        return RuntimeCatalog(runtimes: runtimes)
    }

    /// Scripts `handle`'s next wake processes, from the next attempt on.
    func setOutcomes(_ outcomes: [String], for handle: String) throws {
        // Attempt numbers keep counting (turn markers are named by them); lines for past attempts are padding.
        let base = "\(directory)/\(handle)"
        let used =
            (try? String(contentsOfFile: "\(base).count", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let lines = Array(repeating: "used", count: used) + outcomes
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(base).outcomes", atomically: true, encoding: .utf8)
    }

    /// The attempt numbers of `handle`'s `ok` processes that have reached their turn, in order.
    func turnsReached(by handle: String) -> [Int] {
        lines("\(directory)/\(handle).turns").compactMap { Int($0) }
    }

    /// Lets `handle`'s wake process number `turn` end: its turn has been played.
    func markTurnPlayed(_ turn: Int, by handle: String) {
        _ = FileManager.default.createFile(atPath: "\(directory)/\(handle).played.\(turn)", contents: nil)
    }

    /// Whether `handle`'s latest wake process was scripted to hang.
    func latestHangs(_ handle: String) -> Bool {
        lines("\(directory)/\(handle).log").last?.hasSuffix(" hang") ?? false
    }

    private func lines(_ path: String) -> [Substring] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n")
    }
}
