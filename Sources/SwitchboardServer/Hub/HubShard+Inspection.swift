import Histogram
import NIOCore
import SwitchboardCore

/// What operators do to a shard's sessions and read of them: kicks, broadcasts and the client
/// table's orders and rows. Everything here runs on the shard's loop.
extension HubShard {
    // MARK: - Operator actions (loop only)

    /// Closes one session with `code`; false if it is not on this shard.
    func kick(_ id: String, code: CloseCode, reason: String) -> Bool {
        eventLoop.assertInEventLoop()
        guard let session = sessions[id], session.isOpen else { return false }
        session.close(code, reason, discardQueued: true)
        report(.kick, client: id, code: Int(code.rawValue), detail: reason)
        return true
    }

    /// Closes every session (optionally only subscribers of `channel`); returns how many.
    func kickAll(channel: String?, code: CloseCode, reason: String) -> Int {
        eventLoop.assertInEventLoop()
        let targets =
            channel.map { name in (subscribers[name]?.sessions ?? []) + (pusherSubscribers[name]?.sessions ?? []) } ?? Array(sessions.values)
        var kicked = 0
        for session in targets where kick(session.id, code: code, reason: reason) { kicked += 1 }
        return kicked
    }

    /// Closes every session of `user` (see ``Session/authenticatedUser``); returns how many.
    func kickUser(_ user: String, code: CloseCode, reason: String) -> Int {
        eventLoop.assertInEventLoop()
        var kicked = 0
        for session in sessions.values where session.authenticatedUser == user && kick(session.id, code: code, reason: reason) { kicked += 1 }
        return kicked
    }

    /// Closes this shard's connections of Pusher app `appID` whose user is `userID` (signed in,
    /// or present in a presence channel) with 4009; returns how many.
    func terminate(appID: String, userID: String, reason: String) -> Int {
        eventLoop.assertInEventLoop()
        var closed = 0
        for session in sessions.values where session.isOpen && session.pusher?.app.id == appID {
            let present = presence[ObjectIdentifier(session)]?.values.contains(userID) ?? false
            guard session.pusher?.signedInUser == userID || present else { continue }
            session.close(.pusherUnauthorized, reason, discardQueued: false)
            report(.kick, client: session.id, code: Int(CloseCode.pusherUnauthorized.rawValue), detail: reason)
            closed += 1
        }
        return closed
    }

    /// Sends an operator's broadcast to every open session, pre-encoded once per protocol;
    /// returns how many.
    func broadcast(native: ByteBuffer, pusher: ByteBuffer) -> Int {
        eventLoop.assertInEventLoop()
        var reached = 0
        for session in sessions.values where session.isOpen {
            switch session.route {
            case .native: session.push(native)
            case .pusher: session.push(pusher)
            case .echo, .pusherRefused: continue
            }
            reached += 1
        }
        traffic.deliveries += reached
        return reached
    }

    // MARK: - Inspection (loop only)

    /// The order keys of the sessions `query` matches: the first half of a windowed query,
    /// without a string copied; rows are built only for the window, by ``clientRows(numbers:)``.
    func clientOrderKeys(matching query: ClientQuery) -> (sample: UInt64, keys: [ClientOrderKey]) {
        eventLoop.assertInEventLoop()
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        var keys: [ClientOrderKey] = []
        keys.reserveCapacity(query.id == nil ? sessions.count : 1)
        forEachSession(matching: query) { session in keys.append(orderKey(of: session, in: query, monotonicNow: monotonic, wallNow: wall)) }
        return (figureSamples, keys)
    }

    private func orderKey(of session: Session, in query: ClientQuery, monotonicNow: UInt64, wallNow: Double) -> ClientOrderKey {
        query.orderKey(rank: session.sortRank(query.sort, monotonicNow: monotonicNow, wallNow: wallNow), number: session.number, owner: index)
    }

    /// The order keys of the sessions `query` matches whose figure that `query` sorts by moved
    /// since sample `sample` (see ``figureSamples``): none when the shard has not sampled since,
    /// those that moved at its latest sample when that is the next one, nil when it is further
    /// on (the moves of older samples are not kept).
    func movedClientOrderKeys(matching query: ClientQuery, since sample: UInt64) -> (sample: UInt64, keys: [ClientOrderKey])? {
        eventLoop.assertInEventLoop()
        if sample == figureSamples { return (sample, []) }
        guard sample + 1 == figureSamples else { return nil }
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        var keys: [ClientOrderKey] = []
        let figure = MovedFigures(readBy: query.sort)
        for (session, moved) in movedAtLastSample where moved.contains(figure) && query.matches(session: session, user: user(of: session)) {
            keys.append(orderKey(of: session, in: query, monotonicNow: monotonic, wallNow: wall))
        }
        return (figureSamples, keys)
    }

    /// Calls `body` with each session `query`'s id, channel and filter let through (every
    /// session without them; only the one with the id, found by id, for an id query).
    private func forEachSession(matching query: ClientQuery, _ body: (Session) -> Void) {
        if let id = query.id {
            if let session = sessions[id], query.matches(session: session, user: user(of: session)) { body(session) }
            return
        }
        guard query.channel != nil || query.user != nil || !query.filter.isEmpty else { return sessions.values.forEach(body) }
        for session in sessions.values where query.matches(session: session, user: user(of: session)) { body(session) }
    }

    /// The rows of the sessions numbered `numbers` that are still here, with their numbers.
    func clientRows(numbers: [UInt64]) -> [(number: UInt64, row: ClientRow)] {
        eventLoop.assertInEventLoop()
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        return numbers.compactMap { number in
            sessions[hub.clientID(of: number)].map {
                (number, $0.row(monotonicNow: monotonic, wallNow: wall, presenceUsers: presenceUsers(of: $0)))
            }
        }
    }

    /// Who a session is, as its row shows it.
    private func user(of session: Session) -> String? {
        session.user(presenceUsers: presenceUsers(of: session))
    }

    private func presenceUsers(of session: Session) -> [String] {
        presence[ObjectIdentifier(session)].map { Set($0.values).sorted() } ?? []
    }

    /// Samples every session's figures (see ``Session/sampleFigures(elapsed:)``) and keeps the
    /// sessions whose figures moved.
    func sampleClientRates(elapsed: Double?) {
        eventLoop.assertInEventLoop()
        movedAtLastSample.removeAll(keepingCapacity: true)
        for session in sessions.values {
            let moved = session.sampleFigures(elapsed: elapsed)
            if !moved.isEmpty { movedAtLastSample.append((session, moved)) }
        }
        figureSamples += 1
    }

    /// Local subscriber counts, and publish counts of the channels this shard owns.
    func channelCounts() -> (subscribers: [String: Int], published: [String: Int]) {
        eventLoop.assertInEventLoop()
        return (
            subscribers.mapValues { $0.sessions.count }.merging(pusherSubscribers.mapValues { $0.sessions.count }, uniquingKeysWith: +),
            owned.published
        )
    }

    /// Keeps ``queuedFrames`` and the backed-up sessions as `session`'s mailbox went from
    /// `old` frames to `new`.
    func mailboxDepthChanged(_ session: Session, from old: Int, to new: Int) {
        queuedFrames += new - old
        if old == 0 {
            backedUpSessions[ObjectIdentifier(session)] = session
        } else if new == 0 {
            backedUpSessions.removeValue(forKey: ObjectIdentifier(session))
        }
    }

    /// The rows of at most `limit` sessions, the deepest mailboxes first (ties by client
    /// number); sessions with nothing queued fill the rest in no particular order. Costs the
    /// backed-up sessions and `limit`, not every session.
    func busiestClientRows(limit: Int) -> [ClientRow] {
        eventLoop.assertInEventLoop()
        var chosen = Array(backedUpSessions.values.sorted { ($0.queuedFrames, $1.number) > ($1.queuedFrames, $0.number) }.prefix(limit))
        for session in sessions.values where session.queuedFrames == 0 {
            guard chosen.count < limit else { break }
            chosen.append(session)
        }
        let monotonic = NIODeadline.now().uptimeNanoseconds
        let wall = WallClock.now()
        return chosen.map { $0.row(monotonicNow: monotonic, wallNow: wall, presenceUsers: presenceUsers(of: $0)) }
    }

    /// The latencies recorded since the last call.
    func takeLatencies() -> Histogram<UInt64> {
        defer { latencies.reset() }
        return latencies
    }
}

extension ClientQuery {
    /// Whether `session` passes this query's conditions (`user` is only read with a filter set).
    func matches(session: Session, user: @autoclosure () -> String?) -> Bool {
        if let wanted = self.user, session.authenticatedUser != wanted { return false }
        return matches(
            id: session.id, remoteAddress: session.remoteAddress, userAgent: session.userAgent, channels: session.channels,
            socketID: session.pusher?.socketID, user: user())
    }
}
