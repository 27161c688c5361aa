import NIOConcurrencyHelpers
import NIOCore
import SwitchboardCore

/// The Pusher side of the hub: which app a connection or a hub channel belongs to, and the
/// app-level announcements (occupancy and member webhooks). A Pusher app's channel `news` is the
/// hub channel `<app id>:news`, so apps never collide with each other or with native channels.
extension Hub {
    /// What a Pusher client connecting with `key` gets: its app, or why it is refused (4001
    /// unknown key, 4007 unsupported protocol version, 4004 app over quota). A granted place in
    /// the app's quota is held until `channel` closes.
    func pusherRoute(key: String, protocolVersion: String?, channel: any Channel) -> Session.Route {
        guard let app = apps.byKey[key] else { return .pusherRefused(.pusherAppUnknown, "App key \(key) not in this cluster") }
        guard let version = protocolVersion.flatMap({ Int($0) }), (5...7).contains(version) else {
            return .pusherRefused(.pusherUnsupportedProtocol, "Unsupported protocol version: send ?protocol=7 (5 to 7 are accepted)")
        }
        guard apps.takePlace(for: app, until: channel) else {
            return .pusherRefused(.pusherOverQuota, "Application is over its connection quota of \(app.maxConnections)")
        }
        return .pusher(PusherConnection(app: app, socketID: makeSocketID()))
    }

    /// Whether `channel` is a Pusher app's private or presence channel, which native clients may
    /// use only with a token that names it.
    func isProtectedPusherChannel(_ channel: String) -> Bool {
        guard !apps.byID.isEmpty, let (_, name) = pusherApp(ofHubChannel: channel) else { return false }
        return PusherChannel.Kind(name: name) != .public
    }

    /// The Pusher app a hub channel belongs to, and the channel's name in it.
    func pusherApp(ofHubChannel channel: String) -> (app: PusherApp, name: String)? {
        let utf8 = channel.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")), let app = apps.byID[String(channel[..<colon])] else { return nil }
        return (app, String(channel[utf8.index(after: colon)...]))
    }

    /// Tells the channel's app, if it has webhooks, that the channel became occupied or vacated.
    func announceOccupancy(_ channel: String, occupied: Bool) {
        guard let webhooks, let (app, name) = pusherApp(ofHubChannel: channel), !app.webhooks.isEmpty else { return }
        if occupied { webhooks.channelOccupied(app, channel: name) } else { webhooks.channelVacated(app, channel: name) }
    }

    /// Tells the channel's app, if it has webhooks, that a member joined or left.
    func announceMember(added: Bool, userID: String, channel: String) {
        guard let webhooks, let (app, name) = pusherApp(ofHubChannel: channel) else { return }
        webhooks.member(app, added: added, channel: name, userID: userID)
    }

    /// Delivers announcements the engine made (a cluster script's, read from its stream); `done`
    /// runs once they were delivered (or given up on), so that they can be acknowledged.
    func announce(_ announcements: [WebhookAnnouncement], then done: @escaping @Sendable () -> Void) {
        guard let webhooks else { return done() }
        for announcement in announcements {
            switch announcement {
            case .memberAdded(let channel, let user): announceMember(added: true, userID: user, channel: channel)
            case .memberRemoved(let channel, let user): announceMember(added: false, userID: user, channel: channel)
            case .channelOccupied(let channel): announceOccupancy(channel, occupied: true)
            case .channelVacated(let channel): announceOccupancy(channel, occupied: false)
            }
        }
        webhooks.afterDelivery(done)
    }
}
