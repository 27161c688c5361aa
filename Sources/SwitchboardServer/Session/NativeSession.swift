import NIOCore
import SwitchboardCore

/// The native JSON protocol's requests, answered by a ``Session``: subscribe (with presence and
/// recovery), unsubscribe, presence, publish, history and ping. Replies keep request order
/// (``ReplyOrder``); what the engine decides later fills a reserved place.
extension Session {
    /// Answers one native-protocol request (a complete, valid UTF-8 text message).
    func handleRequest(_ data: ByteBuffer) {
        if proxyBacklog != nil { return proxyBacklog!.append(data) }
        if shard.configuration.faultInjection, data.readableBytesView.elementsEqual(Self.injectedFault.utf8) {
            // Test-only: behave as if processing this message had failed inside the session.
            shard.report(.error, client: id, code: Int(CloseCode.internalError.rawValue), detail: "injected session failure")
            return fail(.internalError, "internal error")
        }
        let allocator = context!.channel.allocator
        func slice(_ span: JSONScanner.Span?) -> ByteBuffer? {
            span.flatMap { data.getSlice(at: data.readerIndex + $0.start, length: $0.count) }
        }
        let request: ClientRequest
        switch data.withUnsafeReadableBytes({ ClientRequest.decode($0) }) {
        case .success(let decoded): request = decoded
        case .failure(let error):
            reply(ServerMessage.error(error, id: slice(error.id), allocator: allocator))
            return
        }
        let id = slice(request.id)
        switch request.kind {
        case .subscribe(let channel, _), .publish(let channel, _), .presence(let channel), .history(let channel):
            guard identity.permits(channel) else {
                return refuse(ProtocolError(.forbidden, "your token does not grant channel \"\(channel)\""), id: id, on: channel)
            }
            if shard.isProtectedPusherChannel(channel) && !identity.grantsExplicitly(channel) {
                let error = ProtocolError(.forbidden, "\"\(channel)\" is a Pusher app's private or presence channel; it needs a token that grants it")
                return refuse(error, id: id, on: channel)
            }
        case .unsubscribe, .ping, .refresh: break
        }
        switch request.kind {
        case .subscribe(let channel, let presence):
            if let proxy = shard.hub.proxy, proxy.asksBeforeSubscribing(to: channel) {
                let (client, user) = (self.id, identity.user)
                return askProxy(
                    id: id, { await proxy.subscribe(client: client, user: user, channel: channel) },
                    granted: { info in
                        self.subscribe(to: channel, presence: presence, since: request.since, id: id, info: info ?? self.identity.proxied?.info)
                    })
            }
            subscribe(to: channel, presence: presence, since: request.since, id: id, info: identity.proxied?.info)
        case .unsubscribe(let channel):
            guard shard.unsubscribe(self, from: channel) else {
                let error = ProtocolError(.notSubscribed, "not subscribed to \"\(channel)\"")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
            reply(ServerMessage.unsubscribed(channel: channel, id: id, allocator: allocator))
        case .presence(let channel):
            let ticket = reserveReply()
            let hub = shard.hub
            shard.eventLoop.makeFutureWithTask { try await hub.clusterMembers(of: channel) }.assumeIsolated().whenComplete { result in
                switch result {
                case .success(let members):
                    self.fillReply(ticket: ticket, with: ServerMessage.presence(channel: channel, members: members, id: id, allocator: allocator))
                case .failure:
                    let error = ProtocolError.unavailable("; try again")
                    self.fillReply(ticket: ticket, with: ServerMessage.error(error, id: id, allocator: allocator))
                }
            }
        case .publish(let channel, let span):
            guard bucket.take(now: heartbeat.lastInbound) else {
                let error = ProtocolError(.rateLimited, "publish rate limit is \(Int(shard.configuration.publishRate)) messages per second")
                return refuse(error, id: id, on: channel)
            }
            let data = slice(span)!
            if let proxy = shard.hub.proxy, proxy.asksBeforePublishing(to: channel) {
                let (client, user, bytes) = (self.id, identity.user, Array(data.readableBytesView))
                return askProxy(
                    id: id, { await proxy.publish(client: client, user: user, channel: channel, data: bytes) },
                    granted: { replacement in
                        let data = replacement.map { ByteBuffer(bytes: $0) } ?? data
                        self.publish(to: channel, event: request.event, data: data, idempotencyKey: request.idempotencyKey, id: id)
                    })
            }
            publish(to: channel, event: request.event, data: data, idempotencyKey: request.idempotencyKey, id: id)
        case .history(let channel):
            guard shard.keepsHistory(channel) else {
                let error = ProtocolError(.noHistory, "\"\(channel)\" keeps no history")
                return reply(ServerMessage.error(error, id: id, allocator: allocator))
            }
            let ticket = reserveReply()
            let (since, limit) = (request.since, request.limit ?? 100)
            shard.hub.historyPage(of: channel, since: since?.seq, epoch: since?.epoch, limit: limit)
                .hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
                    let frame: ByteBuffer
                    switch result {
                    case .success(.success(let page)):
                        frame = ServerMessage.history(
                            channel: channel, position: page.position, messages: page.messages, id: id, allocator: allocator)
                    case .success(.failure(.unrecoverable(let position))):
                        let error = ProtocolError(
                            .unrecoverable,
                            "not every message after seq \(since?.seq ?? 0) of epoch \(since?.epoch ?? "") is kept; the channel is at seq \(position.seq) of epoch \(position.epoch)"
                        )
                        frame = ServerMessage.error(error, id: id, allocator: allocator)
                    case .success(.failure(.none)):
                        frame = ServerMessage.error(ProtocolError(.noHistory, "\"\(channel)\" keeps no history"), id: id, allocator: allocator)
                    case .failure:
                        let error = ProtocolError(.unavailable, "the history of \"\(channel)\" cannot be read right now; try again")
                        frame = ServerMessage.error(error, id: id, allocator: allocator)
                    }
                    self.fillReply(ticket: ticket, with: frame)
                }
        case .ping:
            reply(ServerMessage.pong(id: id, allocator: allocator))
        case .refresh(let token):
            refresh(with: token, id: id)
        }
    }

    /// Subscribes to `channel` (joining its presence with `info` when asked) and answers
    /// `subscribed`, with the channel's position and any replay when it keeps history.
    func subscribe(to channel: String, presence: Bool, since: StreamPosition?, id: ByteBuffer?, info: [UInt8]?) {
        let allocator = shard.hub.allocator
        let wasSubscribed = channels.contains(channel)
        guard shard.subscribe(self, to: channel) else {
            let error = ProtocolError(
                .tooManyChannels, "a client may subscribe to at most \(shard.configuration.maxChannelsPerClient) channels")
            return refuse(error, id: id, on: channel)
        }
        var admission = PresenceAdmission.admitted
        if presence {
            let member = PresenceMember(userID: identity.user ?? self.id, info: info)
            admission = shard.join(self, as: member, in: channel, limit: shard.configuration.maxPresenceMembers)
            if case .refused = admission { return reply(presenceFull(channel, id: id)) }
        }
        let keepsHistory = shard.keepsHistory(channel)
        if case .admitted = admission, !keepsHistory, wasSubscribed {
            return reply(ServerMessage.subscribed(channel: channel, id: id, allocator: allocator))
        }
        let ticket = reserveReply()
        holdDeliveries(of: channel)
        shard.whenReceiving(channel, admission: admission) { readiness in
            if case .receiving = readiness {} else { self.releaseDeliveries(of: channel, send: false) }
            switch readiness {
            case .receiving where keepsHistory:
                self.confirmSubscription(
                    to: channel, resumingFrom: wasSubscribed ? nil : since, resuming: since != nil, id: id, ticket: ticket)
            case .receiving:
                self.fillReply(ticket: ticket, with: ServerMessage.subscribed(channel: channel, id: id, allocator: allocator)) {
                    self.releaseDeliveries(of: channel, send: true)
                }
            case .presenceFull:
                self.shard.unsubscribe(self, from: channel)
                self.fillReply(ticket: ticket, with: self.presenceFull(channel, id: id))
            case .unavailable:
                self.shard.unsubscribe(self, from: channel)
                let error = ProtocolError.unavailable("; not subscribed to \"\(channel)\"")
                self.fillReply(ticket: ticket, with: ServerMessage.error(error, id: id, allocator: allocator))
            }
        }
    }

    /// Publishes `data` to `channel`; the ack (when the request had an id) or the refusal is the
    /// reply.
    private func publish(to channel: String, event: String?, data: ByteBuffer, idempotencyKey: String?, id: ByteBuffer?) {
        let publication = Publication(
            channel: channel, kind: .message(event: event, user: nil), data: data, from: self.id, except: nil, idempotencyKey: idempotencyKey)
        if let rejection = shard.publish(publication, from: self, ackID: id) { refuse(rejection, id: id, on: channel) }
    }

    /// Answers a subscription to a channel with history, from its owner: `subscribed` with the
    /// channel's position (and, when the client asked to resume, whether it was recovered), then
    /// the missed messages, then the deliveries held since the subscription began, without the
    /// ones the position already covers. Nothing is replayed when any missed message is gone.
    private func confirmSubscription(to channel: String, resumingFrom since: StreamPosition?, resuming: Bool, id: ByteBuffer?, ticket: UInt64) {
        let allocator = shard.hub.allocator
        shard.hub.recovery(of: channel, since: since).hop(to: shard.eventLoop).assumeIsolated().whenComplete { result in
            guard case .success(let answer?) = result else {
                // The engine cannot read the history right now (or the hub is shutting down): not subscribed.
                self.releaseDeliveries(of: channel, send: false)
                self.shard.unsubscribe(self, from: channel)
                let error = ProtocolError(.unavailable, "the history of \"\(channel)\" cannot be read right now; not subscribed")
                return self.fillReply(ticket: ticket, with: ServerMessage.error(error, id: id, allocator: allocator))
            }
            var replay: [ChannelHistory.Entry] = []
            var recovered: Bool?
            if resuming {
                switch answer.replay {
                case .recovered(let missed)?:
                    replay = missed
                    recovered = true
                case .notRecovered?, nil:
                    recovered = false
                }
                self.shard.countRecovery(recovered == true)
            }
            let reply = ServerMessage.subscribed(channel: channel, id: id, position: answer.position, recovered: recovered, allocator: allocator)
            let confirm = {
                self.fillReply(ticket: ticket, with: reply) {
                    self.replays.append(Replay(channel: channel, entries: replay[...], position: answer.position.seq))
                    self.continueReplays()
                }
            }
            // Messages up to the position may still be on their way to this node: the reply waits
            // until the node has delivered them (held here, then dropped), so none arrives twice.
            self.shard.hub.engine.whenDelivered(channel, through: answer.position.seq, to: self.shard, then: confirm)
        }
    }

    private func presenceFull(_ channel: String, id: ByteBuffer?) -> ByteBuffer {
        let limit = shard.configuration.maxPresenceMembers
        return ServerMessage.error(
            ProtocolError(.presenceFull, "\"\(channel)\" already has \(limit) users present"), id: id, allocator: shard.hub.allocator)
    }
}
