import AsyncAlgorithms
import Logging
import ServiceLifecycle
import SwitchboardCore

/// Logs one line of hub figures per interval: what headless operators see in their log stream.
struct StatsLogService: Service {
    let hub: Hub
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var previous = await hub.statistics()
        var previousTime = ContinuousClock.now
        for await _ in AsyncTimerSequence.repeating(every: interval).cancelOnGracefulShutdown() {
            let current = await hub.statistics()
            let now = ContinuousClock.now
            let elapsed = now - previousTime
            let seconds = max(1e-3, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            func rate(_ value: KeyPath<Totals, Int>) -> Logger.MetadataValue {
                "\(Int((Double(current[keyPath: value] - previous[keyPath: value]) / seconds).rounded()))"
            }
            logger.info(
                "stats",
                metadata: [
                    "connections": "\(current.connections)",
                    "subscriptions": "\(current.subscriptions)",
                    "channels": "\(current.channels)",
                    "msgs_in_per_s": rate(\.messagesIn),
                    "msgs_out_per_s": rate(\.messagesOut),
                    "bytes_in_per_s": rate(\.bytesIn),
                    "bytes_out_per_s": rate(\.bytesOut),
                    "mailbox_depth": "\(current.mailboxDepth)",
                ]
            )
            previous = current
            previousTime = now
        }
    }
}
