import DequeModule
import NIOCore
import SwitchboardCore

/// What a native session asks the application's backend (``ApplicationProxy``), and how it keeps
/// its requests in order meanwhile: while a question is out, the socket is not read and requests
/// already read wait in ``Session/proxyBacklog``; once the answer is acted on they are handled in
/// order. So a proxied publish is never overtaken by a later one, and every reply keeps its
/// request's place. Sessions of hubs without a proxy never come here.
extension Session {
    /// Asks `question`; on the loop, `granted` acts on what the backend granted, a refusal is the
    /// client's `error` reply (the backend's slug and message), a disconnect closes the
    /// connection with the backend's code and reason, and a failure is `unavailable` (or
    /// `overloaded`). Then the requests that waited are handled.
    func askProxy<Grant: Sendable>(
        id: ByteBuffer?, _ question: @escaping @Sendable () async -> ProxyOutcome<Grant>, granted: @escaping (Grant) -> Void
    ) {
        proxyBacklog = []
        context?.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        shard.eventLoop.makeFutureWithTask(question).assumeIsolated().whenSuccess { outcome in
            guard self.isOpen else { return }
            let allocator = self.shard.hub.allocator
            switch outcome {
            case .granted(let grant):
                granted(grant)
            case .refused(let code, let message):
                self.reply(ServerMessage.error(code: code, message: message, id: id, allocator: allocator))
            case .disconnect(let code, let reason):
                return self.close(code: code, reason, discardQueued: false)
            case .failed(let failure):
                self.reply(ServerMessage.error(failure.protocolError, id: id, allocator: allocator))
            }
            self.handleBacklog()
        }
    }

    /// Handles the requests that waited for the backend's answer, until one asks it again.
    private func handleBacklog() {
        guard var waiting = proxyBacklog else { return }
        proxyBacklog = nil
        while let next = waiting.popFirst() {
            handleRequest(next)
            guard proxyBacklog == nil else {
                proxyBacklog = waiting
                return
            }
        }
        context?.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }

    /// Subscribes a client the connect proxy accepted to the channels it named, right after
    /// `welcome`: the client hears ordinary `subscribed` replies (without an id). The backend
    /// chose them, so the subscribe proxy is not asked.
    func subscribeServerSideChannels() {
        guard let proxied = identity.proxied else { return }
        for channel in proxied.channels { subscribe(to: channel, presence: false, since: nil, id: nil, info: nil) }
    }
}

extension ApplicationProxy {
    /// Whether a subscription to `channel` is asked of the backend first.
    func asksBeforeSubscribing(to channel: String) -> Bool {
        configuration.subscribeURL != nil && configuration.channels.proxiesSubscribe(to: channel)
    }

    /// Whether a publish to `channel` is asked of the backend first.
    func asksBeforePublishing(to channel: String) -> Bool {
        configuration.publishURL != nil && configuration.channels.proxiesPublish(to: channel)
    }
}
