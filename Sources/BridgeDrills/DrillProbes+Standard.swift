import BridgeStore
import BridgeSupervisor
import Foundation

extension DrillProbes {
    /// The probes `/metrics` and `/ready` use.
    public static let standard = DrillProbes(
        metrics: { _, _, _ in "" },
        ready: { _, supervisor in supervisor.isLeader })
}
