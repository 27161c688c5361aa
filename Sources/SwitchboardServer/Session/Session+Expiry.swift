import NIOCore
import SwitchboardCore

/// What becomes of a connection whose expiry came.
enum ExpiryDecision: Sendable {
    /// The connection lives on until this time (seconds since 1970), or for good when nil.
    case extend(until: Double?)
    /// The client is asked: `refresh_required`, then 4003 "expired" after the refresh grace
    /// unless it sends `refresh` with a valid new token first.
    case askClient
    /// The connection is closed now.
    case close(CloseCode, String)
}

/// Decides what happens when a connection's expiry comes: the seam where something other than
/// the client (a refresh proxy asking the application) can extend a connection. Asked on the
/// session's event loop, once per expiry; the answer may come later.
protocol ExpiryRefresher: Sendable {
    func connectionExpired(client: String, identity: ClientIdentity, on eventLoop: any EventLoop) -> EventLoopFuture<ExpiryDecision>
}

/// The hub's default: the client refreshes its own token.
struct AskTheClient: ExpiryRefresher {
    func connectionExpired(client: String, identity: ClientIdentity, on eventLoop: any EventLoop) -> EventLoopFuture<ExpiryDecision> {
        eventLoop.makeSucceededFuture(.askClient)
    }
}

/// Expiring connections: each waits for its expiry or, once `refresh_required` went out, for the
/// end of its grace, in its shard's ``ExpiryTimers`` (one scheduled task per shard), so
/// connections that never expire carry nothing for it and a session that leaves is forgotten.
extension Session {
    /// The longest wait one expiry task is scheduled for; an expiry further off is waited for in
    /// steps of this (a token may name an `exp` centuries away).
    static let longestExpiryWait = 86_400.0 * 30

    /// Schedules what happens at the identity's expiry (and forgets the task scheduled before);
    /// nothing when it never expires.
    func scheduleExpiry() {
        guard let expiresAt = identity.expiresAt else { return shard.expiryTimers.remove(number) }
        let remaining = max(0, expiresAt - WallClock.now())
        let delay = TimeAmount.nanoseconds(Int64(min(remaining, Self.longestExpiryWait) * 1e9))
        shard.expect(self, remaining > Self.longestExpiryWait ? .step : .expiry, in: delay)
    }

    /// What this session waited for has come (see ``HubShard/expect(_:_:in:)``).
    func waitEnded(_ wait: ExpiryTimers.Wait) {
        switch wait {
        case .step: scheduleExpiry()
        case .expiry: expiryCame()
        case .grace: close(.expired, "expired", discardQueued: false)
        }
    }

    /// The identity's expiry came: asks the hub's ``ExpiryRefresher`` what to do, and does it.
    private func expiryCame() {
        guard isOpen, let expired = identity.expiresAt else { return }
        shard.hub.expiryRefresher.connectionExpired(client: id, identity: identity, on: shard.eventLoop)
            .assumeIsolated().whenComplete { result in
                // A refresh from the client while the refresher thought wins.
                guard self.isOpen, self.identity.expiresAt == expired else { return }
                switch result {
                case .success(.extend(let until)):
                    self.identity = self.identity.extended(until: until)
                    self.scheduleExpiry()
                case .success(.askClient), .failure:
                    self.askForRefresh()
                case .success(.close(let code, let reason)):
                    self.close(code, reason, discardQueued: false)
                }
            }
    }

    /// Sends `refresh_required` and closes with 4003 "expired" after the grace, unless a
    /// refresh replaces the task first.
    private func askForRefresh() {
        push(ServerMessage.refreshRequired(allocator: shard.hub.allocator))
        shard.expect(self, .grace, in: TimeAmount(shard.configuration.refreshGrace))
    }

    /// Answers `refresh`: a valid token for the same user replaces the identity (its expiry and
    /// its `channels` claim) and is answered `refreshed`; anything else is an `invalid_token`
    /// error and the connection keeps its old expiry.
    func refresh(with token: String, id: ByteBuffer?) {
        let allocator = shard.hub.allocator
        guard let authenticator = shard.hub.authenticator else {
            let error = ProtocolError(.invalidToken, "this server checks no tokens; there is nothing to refresh")
            return reply(ServerMessage.error(error, id: id, allocator: allocator))
        }
        let ticket = reserveReply()
        shard.eventLoop.makeFutureWithTask { await authenticator.authenticate(token) }.assumeIsolated().whenSuccess { result in
            let answer: ByteBuffer
            switch result {
            case .success(let renewed) where renewed.user == self.identity.user:
                self.identity = renewed
                if self.isOpen { self.scheduleExpiry() }
                answer = ServerMessage.refreshed(expiresIn: renewed.expiresIn(now: WallClock.now()), id: id, allocator: allocator)
            case .success(let other):
                let error = ProtocolError(
                    .invalidToken, "the new token is for user \"\(other.user ?? "")\", not \"\(self.identity.user ?? "")\"; reconnect to change users"
                )
                answer = ServerMessage.error(error, id: id, allocator: allocator)
            case .failure(let failure):
                answer = ServerMessage.error(ProtocolError(.invalidToken, failure.reason), id: id, allocator: allocator)
            }
            self.fillReply(ticket: ticket, with: answer)
        }
    }
}

extension HubShard {
    /// `session` now waits for `wait`, `delay` from now on the shard's clock (instead of what it
    /// waited for before).
    func expect(_ session: Session, _ wait: ExpiryTimers.Wait, in delay: TimeAmount) {
        expiryTimers.set(session.number, wait, at: eventLoop.now + delay)
        scheduleSoonestWait()
    }

    /// Keeps the shard's one task set for the soonest wait.
    private func scheduleSoonestWait() {
        guard let soonest = expiryTimers.soonest() else {
            expiryTask?.task.cancel()
            expiryTask = nil
            return
        }
        if let current = expiryTask, current.at == soonest { return }
        expiryTask?.task.cancel()
        expiryTask = (eventLoop.assumeIsolated().scheduleTask(deadline: soonest) { self.endWaits() }, soonest)
    }

    /// Ends every wait that is over, then sets the task for the next one.
    private func endWaits() {
        expiryTask = nil
        for (number, wait) in expiryTimers.takeDue(now: eventLoop.now) {
            sessions[hub.clientID(of: number)]?.waitEnded(wait)
        }
        scheduleSoonestWait()
    }
}
