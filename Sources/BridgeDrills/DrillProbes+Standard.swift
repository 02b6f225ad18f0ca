import BridgeStore
import BridgeSupervisor
import Foundation

extension DrillProbes {
    /// The probes `/metrics` and `/ready` use: a ``MetricsExporter`` on the drill's supervisor, so figures and
    /// ages are read on the drill's virtual clock.
    public static let standard = DrillProbes(
        metrics: { _, supervisor, _ in await MetricsExporter(supervisor: supervisor).prometheusText() },
        ready: { _, supervisor in await MetricsExporter(supervisor: supervisor).health().isReady }
    )
}
