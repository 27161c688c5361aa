import NIOCore
import SwitchboardCore

/// The taps of the running traces on one shard: which of its sessions are followed, which
/// channels are. Loop only. While nothing is traced, each hot path pays one `isEmpty` check:
/// per publication (``channels``, ``sessions``), per subscription change, per slow-consumer close.
struct ShardTraces {
    /// Every running trace, so a session that connects (or signs in) later is tapped too.
    var all: [TraceSink] = []
    /// The traces of channels, by channel.
    var channels: [String: [TraceSink]] = [:]
    /// The sessions of this shard some trace follows (their ``Session/taps``).
    var sessions: [ObjectIdentifier: Session] = [:]
}

extension HubShard {
    /// Puts a new trace's taps in place on this shard.
    func install(_ sink: TraceSink) {
        eventLoop.assertInEventLoop()
        traces.all.append(sink)
        if case .channel(let name) = sink.target {
            traces.channels[name, default: []].append(sink)
        } else {
            for session in sessions.values where sink.target.follows(session) { tap(session, with: sink) }
        }
    }

    /// Takes an ended trace's taps off this shard.
    func remove(_ sink: TraceSink) {
        eventLoop.assertInEventLoop()
        traces.all.removeAll { $0 === sink }
        if case .channel(let name) = sink.target {
            traces.channels[name]?.removeAll { $0 === sink }
            if traces.channels[name]?.isEmpty == true { traces.channels.removeValue(forKey: name) }
        }
        for (key, session) in traces.sessions {
            session.taps?.removeAll { $0 === sink }
            guard session.taps?.isEmpty == true else { continue }
            session.taps = nil
            traces.sessions.removeValue(forKey: key)
        }
    }

    /// Taps a session that just connected (or signed in) when a running trace follows it.
    func tapIfTraced(_ session: Session) {
        for sink in traces.all where sink.target.follows(session) && session.taps?.contains(where: { $0 === sink }) != true {
            tap(session, with: sink)
        }
    }

    /// Forgets a session that leaves the shard.
    func untap(_ session: Session) {
        traces.sessions.removeValue(forKey: ObjectIdentifier(session))
    }

    private func tap(_ session: Session, with sink: TraceSink) {
        session.taps = (session.taps ?? []) + [sink]
        traces.sessions[ObjectIdentifier(session)] = session
    }

    /// A subscribe or unsubscribe of a traced channel.
    func traceMembership(_ kind: TraceLine.Kind, of session: Session, in channel: String) {
        offer(channel) { sink in
            TraceLine(
                time: WallClock.now(), node: sink.node, kind: kind, direction: .in, client: session.id, user: session.tracedUser,
                channel: channel)
        }
    }

    /// A request about a traced channel was refused (`why`: the error's code and message; `code`:
    /// a Pusher status).
    func traceRefusal(of session: Session, in channel: String, _ why: String, code: Int?) {
        offer(channel) { sink in
            TraceLine(
                time: WallClock.now(), node: sink.node, kind: .refused, direction: .in, client: session.id, user: session.tracedUser,
                channel: channel, code: code, data: why)
        }
    }

    /// A publication of a traced channel, once per node (by the shard that fans it out): a
    /// publish, a presence join or leave, or messages lost.
    func tracePublication(_ publication: Publication, seq: UInt64) {
        offer(publication.channel) { sink in
            var line = TraceLine(time: WallClock.now(), node: sink.node, kind: .publish, channel: publication.channel)
            switch publication.kind {
            case .message(_, let user):
                line.client = publication.from
                line.user = user
                line.seq = seq
                line.bytes = publication.data.readableBytes
                (line.data, line.truncated) = sink.cut(publication.data)
            case .joined(let member):
                line.kind = .join
                line.user = member.userID
            case .left(let member):
                line.kind = .leave
                line.user = member.userID
            case .messagesLost(let notice, _, let position):
                line.kind = .messagesLost
                line.seq = position
                line.data = notice
            }
            return line
        }
    }

    /// The deliveries of one publication to this shard's traced sessions (the sessions that
    /// got it: subscribed, not the one it skips); `bytes` is each protocol's frame size.
    func traceDeliveries(_ publication: Publication, seq: UInt64, receivedAt: UInt64, nativeBytes: Int, pusherBytes: Int) {
        let now = NIODeadline.now().uptimeNanoseconds
        let latency = now > receivedAt ? Int((now - receivedAt) / 1000) : 0
        let data: ByteBuffer? = if case .message = publication.kind { publication.data } else { nil }
        for session in traces.sessions.values where session.channels.contains(publication.channel) {
            if let except = publication.except, session.id == except || session.pusher?.socketID == except { continue }
            session.trace(
                .delivery, .out, channel: publication.channel, seq: seq == 0 ? nil : seq,
                bytes: session.speaksPusher ? pusherBytes : nativeBytes, latencyMicros: latency, data: data)
        }
    }

    /// A slow consumer is dropped: a line for the traces following it and for those of its
    /// channels.
    func traceDrop(of session: Session) {
        session.trace(.drop, .out, code: Int(CloseCode.slowConsumer.rawValue))
        for channel in session.channels {
            offer(channel) { sink in
                TraceLine(
                    time: WallClock.now(), node: sink.node, kind: .drop, direction: .out, client: session.id, user: session.tracedUser,
                    channel: channel, mailbox: session.queuedFrames, code: Int(CloseCode.slowConsumer.rawValue))
            }
        }
    }

    private func offer(_ channel: String, _ make: (TraceSink) -> TraceLine) {
        guard let sinks = traces.channels[channel] else { return }
        for sink in sinks { sink.offer { make(sink) } }
    }
}
