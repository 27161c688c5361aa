import ConsoleTerminal
public import ServiceLifecycle

/// Runs the console as a service: quitting it ends the process; SIGINT/SIGTERM end it too.
public struct ConsoleService: Service {
    let controller: ConsoleController
    let colors: Bool

    public init(controller: ConsoleController, colors: Bool) {
        self.controller = controller
        self.colors = colors
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await controller.run(colors: colors)
        } onGracefulShutdown: {
            controller.stop.set()
        }
    }
}
