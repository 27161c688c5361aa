import NIOCore
import SwitchboardCore

/// What a session speaking the Pusher protocol knows beyond a native session: its app, socket
/// id, signed-in user and client-event budget. Confined to the session's event loop.
final class PusherConnection: @unchecked Sendable {
    let app: PusherApp
    /// `<digits>.<digits>`, unique for the life of the process.
    let socketID: String
    /// The user of `pusher:signin`, if the client signed in.
    var signedInUser: String?
    var clientEventBudget: TokenBucket

    init(app: PusherApp, socketID: String) {
        self.app = app
        self.socketID = socketID
        self.clientEventBudget = TokenBucket(
            rate: app.clientEventRate, burst: max(1, app.clientEventRate), now: NIODeadline.now().uptimeNanoseconds)
    }
}

/// The Pusher Channels protocol on top of a ``Session``: the frame, mailbox and close machinery
/// are the session's; this extension reads Pusher events and answers them.
extension Session {
    /// The Pusher connection's state, when the client speaks Pusher.
    var pusher: PusherConnection? {
        if case .pusher(let connection) = route { connection } else { nil }
    }

    /// Whether the client speaks the Pusher protocol (its frames and close codes are Pusher's).
    var speaksPusher: Bool {
        switch route {
        case .pusher, .pusherRefused: true
        case .native, .echo: false
        }
    }

    func handlePusherMessage(_ data: ByteBuffer, connection: PusherConnection) {
        let allocator = context!.channel.allocator
        switch PusherRequest.decode(Array(data.readableBytesView)) {
        case .failure(let failure):
            push(PusherFrame.error(code: nil, message: failure.message, allocator: allocator))
        case .success(.ping):
            push(PusherFrame.pong(allocator: allocator))
        case .success(.pong):
            break
        case .success(.subscribe(let channel, let auth, let channelData)):
            pusherSubscribe(channel, auth: auth, channelData: channelData, connection: connection)
        case .success(.unsubscribe(let channel)):
            _ = shard.unsubscribe(self, from: connection.app.hubChannel(channel))
        case .success(.signin(let auth, let userData)):
            let expected = PusherSignature.signinAuth(app: connection.app, socketID: connection.socketID, userData: userData)
            guard PusherSignature.matches(auth, expected),
                let user = try? JSONObject(parsing: Array(userData.utf8)), let userID = user.string("id") ?? user.int("id").map(String.init)
            else {
                return close(
                    .pusherUnauthorized,
                    "Invalid signin: auth must be key:HMAC-SHA256(secret, \"socket_id::user::user_data\") and user_data must have an id",
                    discardQueued: false)
            }
            connection.signedInUser = userID
            if !shard.traces.all.isEmpty { shard.tapIfTraced(self) }
            shard.hub.clientOrders.membershipChanged()
            push(PusherFrame.signinSuccess(userData: userData, allocator: allocator))
        case .success(.clientEvent(let event, let channel, let payload)):
            relayClientEvent(event, channel: channel, data: payload, connection: connection)
        }
    }

    private func pusherSubscribe(_ channel: String, auth: String?, channelData: String?, connection: PusherConnection) {
        let allocator = context!.channel.allocator
        let app = connection.app
        func refuse(_ type: String, _ error: String, status: Int) {
            if !shard.traces.channels.isEmpty { shard.traceRefusal(of: self, in: app.hubChannel(channel), "\(type): \(error)", code: status) }
            push(PusherFrame.subscriptionError(channel: channel, type: type, error: error, status: status, allocator: allocator))
        }
        guard PusherChannel.isValid(channel) else {
            return refuse("InvalidChannel", "channel names are 1-\(PusherChannel.maxLength) bytes of A-Z a-z 0-9 _ - = @ , . ;", status: 400)
        }
        let kind = PusherChannel.Kind(name: channel)
        if kind.needsSignature {
            let data = kind == .presence ? channelData : nil
            let expected = PusherSignature.channelAuth(app: app, socketID: connection.socketID, channel: channel, channelData: data)
            guard let auth, PusherSignature.matches(auth, expected) else {
                let signed = data == nil ? "socket_id:channel" : "socket_id:channel:channel_data"
                return refuse("AuthError", "Invalid signature for \(channel): expected key:HMAC-SHA256(secret, \"\(signed)\")", status: 401)
            }
        }
        var member: PresenceMember?
        if kind == .presence {
            guard let channelData, let parsed = PresenceMember(channelData: channelData) else {
                return refuse("AuthError", "presence channels need channel_data with a user_id of 1-128 bytes", status: 400)
            }
            guard (parsed.info?.count ?? 0) <= PresenceMember.maxInfoBytes else {
                return refuse("LimitReached", "user_info is larger than \(PresenceMember.maxInfoBytes) bytes", status: 413)
            }
            member = parsed
        }
        let hubChannel = app.hubChannel(channel)
        guard shard.subscribe(self, to: hubChannel) else {
            return refuse("LimitReached", "a client may subscribe to at most \(shard.configuration.maxChannelsPerClient) channels", status: 403)
        }
        var admission = PresenceAdmission.admitted
        if let member {
            admission = shard.join(self, as: member, in: hubChannel, limit: app.maxPresenceMembers)
            if case .refused = admission { return refuse("LimitReached", "\(channel) already has \(app.maxPresenceMembers) members", status: 403) }
        }
        // Succeeded only once this node receives the channel's messages and the join is decided
        // (see Engine.whenReceiving), with the members of every node.
        holdDeliveries(of: hubChannel)
        shard.whenReceiving(hubChannel, admission: admission, members: member != nil) { readiness in
            if case .receiving = readiness {} else { self.releaseDeliveries(of: hubChannel, send: false) }
            switch readiness {
            case .receiving(let members):
                self.push(PusherFrame.subscriptionSucceeded(channel: channel, members: members, allocator: allocator))
                self.releaseDeliveries(of: hubChannel, send: true)
            case .presenceFull:
                self.shard.unsubscribe(self, from: hubChannel)
                refuse("LimitReached", "\(channel) already has \(app.maxPresenceMembers) members", status: 403)
            case .unavailable:
                self.shard.unsubscribe(self, from: hubChannel)
                refuse("ServiceUnavailable", ProtocolError.unavailable("; not subscribed to \(channel)").message, status: 503)
            }
        }
    }

    private func relayClientEvent(_ event: String, channel: String, data: [UInt8], connection: PusherConnection) {
        let allocator = context!.channel.allocator
        let app = connection.app
        func refuse(_ code: Int?, _ message: String) {
            push(PusherFrame.error(code: code, message: message, allocator: allocator))
        }
        guard app.clientEvents else { return refuse(nil, "client events are not enabled for this app") }
        let kind = PusherChannel.Kind(name: channel)
        guard kind == .private || kind == .presence else {
            return refuse(nil, "client events are only allowed on private- and presence- channels (not \(channel))")
        }
        let hubChannel = app.hubChannel(channel)
        guard channels.contains(hubChannel) else { return refuse(nil, "subscribe to \(channel) before sending client events on it") }
        guard data.count <= app.maxEventBytes else { return refuse(nil, "client event data is larger than \(app.maxEventBytes) bytes") }
        guard connection.clientEventBudget.take(now: heartbeat.lastInbound) else {
            return refuse(4301, "client event rejected: at most \(Int(app.clientEventRate)) client events per second")
        }
        let user = shard.presenceUser(of: self, in: hubChannel)
        let publication = Publication(
            channel: hubChannel, kind: .message(event: event, user: user), data: ByteBuffer(bytes: data),
            from: connection.socketID, except: connection.socketID)
        if let rejection = shard.publish(publication, from: self, ackID: nil) {
            return refuse(nil, rejection.message)
        }
        shard.clientEventRelayed(app: app, channel: channel, event: event, data: data, socketID: connection.socketID, userID: user)
    }
}
