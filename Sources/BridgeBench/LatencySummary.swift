import Foundation

/// Percentiles of a set of latency samples, in milliseconds (nearest rank).
public struct LatencySummary: Codable, Sendable {
    public var samples: Int
    public var p50Ms: Double
    public var p95Ms: Double
    public var p99Ms: Double
    public var minMs: Double
    public var maxMs: Double
    public var meanMs: Double

    /// The summary of `durations`; all zero when there are none.
    public init(_ durations: [Duration]) {
        let sorted = durations.map { $0.milliseconds }.sorted()
        samples = sorted.count
        func rank(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(index, 0), sorted.count - 1)]
        }
        p50Ms = rank(0.50)
        p95Ms = rank(0.95)
        p99Ms = rank(0.99)
        minMs = sorted.first ?? 0
        maxMs = sorted.last ?? 0
        meanMs = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
    }
}

extension Duration {
    /// Milliseconds with their fraction.
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
