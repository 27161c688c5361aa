/// Runs long-lived actors and restarts any that fails, with exponential backoff, so one failing
/// actor never takes the process down. Restarts are counted and reported.
public struct Supervisor: Sendable {
    /// One supervised actor: its run loop returns when the actor is done, throws when it failed.
    public struct Child: Sendable {
        public let name: String
        public let run: @Sendable () async throws -> Void

        public init(name: String, run: @escaping @Sendable () async throws -> Void) {
            self.name = name
            self.run = run
        }
    }

    /// First restart delay; doubles per consecutive failure up to `maximumBackoff`.
    public var initialBackoff = Duration.milliseconds(100)
    public var maximumBackoff = Duration.seconds(30)
    /// A child that ran this long before failing starts again from the initial backoff.
    public var stableAfter = Duration.seconds(60)
    /// Told about every restart: the child, the error, and how many restarts it has had.
    public let onRestart: @Sendable (_ child: String, _ error: any Error, _ restarts: Int) -> Void

    public init(onRestart: @escaping @Sendable (_ child: String, _ error: any Error, _ restarts: Int) -> Void) {
        self.onRestart = onRestart
    }

    /// Runs every child until each returns or the task is cancelled.
    public func run(_ children: [Child]) async {
        await withDiscardingTaskGroup { group in
            for child in children {
                group.addTask { await supervise(child) }
            }
        }
    }

    private func supervise(_ child: Child) async {
        var restarts = 0
        var backoff = initialBackoff
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await child.run()
                return
            } catch {
                if Task.isCancelled { return }
                restarts += 1
                if ContinuousClock.now - started >= stableAfter { backoff = initialBackoff }
                onRestart(child.name, error, restarts)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }
}
