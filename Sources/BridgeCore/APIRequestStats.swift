import Synchronization

/// The API calls a `serve` process handled since its last flush, by tool and result code (ARCHITECTURE.md, Observability).
///
/// Recording is a dictionary update under a lock, with no I/O, so the tool-call path pays nothing for it.
/// A flusher drains the tallies now and then and persists them; a flush that fails puts them back.
public final class APIRequestStats: Sendable {
    /// Upper bounds, in seconds, of the duration histogram's finite buckets. A last bucket counts the slower
    /// calls (+Inf). Migration 0005 documents the same list; changing it needs a new migration.
    public static let bucketBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    /// How many buckets a histogram has: one per bound, and +Inf.
    public static var bucketCount: Int { bucketBounds.count + 1 }

    /// What was called and how it ended: `OK`, or the error code (`NOT_FOUND`, `UNAVAILABLE`, …).
    public struct Key: Sendable, Hashable {
        public var tool: String
        public var code: String

        public init(tool: String, code: String) {
            self.tool = tool
            self.code = code
        }
    }

    /// Calls of one key: how many, their total duration, and a histogram of their durations.
    public struct Tally: Sendable, Hashable {
        public var count: Int64 = 0
        public var durationSeconds: Double = 0
        /// One count per bucket of ``APIRequestStats/bucketBounds`` and +Inf, not cumulative.
        public var buckets = [Int64](repeating: 0, count: APIRequestStats.bucketCount)

        public init() {}

        /// Counts one call that took `seconds`.
        public mutating func add(seconds: Double) {
            count += 1
            durationSeconds += seconds
            buckets[APIRequestStats.bucketIndex(for: seconds)] += 1
        }

        /// Adds another tally of the same key.
        public mutating func merge(_ other: Tally) {
            count += other.count
            durationSeconds += other.durationSeconds
            for index in buckets.indices where index < other.buckets.count { buckets[index] += other.buckets[index] }
        }
    }

    /// The workspace the calls were made in (a `serve` process serves one).
    public let workspace: String
    private let pending = Mutex<[Key: Tally]>([:])

    public init(workspace: String) {
        self.workspace = workspace
    }

    /// Counts one call.
    public func record(tool: String, code: String, duration: Duration) {
        let seconds = duration.seconds
        pending.withLock { $0[Key(tool: tool, code: code), default: Tally()].add(seconds: seconds) }
    }

    /// Takes every tally recorded since the last drain.
    public func drain() -> [Key: Tally] {
        pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
    }

    /// Puts back tallies that could not be persisted, to be tried again with the next flush.
    public func restore(_ tallies: [Key: Tally]) {
        pending.withLock { pending in
            for (key, tally) in tallies { pending[key, default: Tally()].merge(tally) }
        }
    }

    /// The bucket a duration of `seconds` falls in.
    public static func bucketIndex(for seconds: Double) -> Int {
        bucketBounds.firstIndex { seconds <= $0 } ?? bucketBounds.count
    }

    /// The upper bound of the bucket holding quantile `q` (0…1) of a histogram, or nil when it is empty.
    /// A quantile in the +Inf bucket reads as the last finite bound.
    public static func quantileUpperBound(_ q: Double, buckets: [Int64]) -> Double? {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int64((q * Double(total)).rounded(.up)))
        var seen: Int64 = 0
        for (index, count) in buckets.enumerated() {
            seen += count
            if seen >= rank { return bucketBounds[min(index, bucketBounds.count - 1)] }
        }
        return bucketBounds.last
    }
}
