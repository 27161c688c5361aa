import Foundation
import Logging
import SwitchboardCore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One Pusher webhook event, encoded, waiting for its app's next delivery; or (no app) a marker
/// whose `delivered` runs once every event before it was delivered (or given up on).
struct WebhookEvent: Sendable {
    let app: PusherApp?
    /// The event object: `{"name":"channel_occupied","channel":"…"}` and so on.
    let json: String
    var delivered: (@Sendable () -> Void)? = nil
}

/// Delivers the webhooks of Pusher apps that configure URLs: `channel_occupied`,
/// `channel_vacated`, `member_added`, `member_removed` and `client_event`.
///
/// Events are sent from the event loops into a bounded, instrumented mailbox (a full mailbox
/// refuses and counts, never blocks a loop). One task drains it, batches each app's events (at
/// most 100 per request) as `{"time_ms":…,"events":[…]}`, signs the body with the app's secret
/// (`X-Pusher-Key`, `X-Pusher-Signature: hex(HMAC-SHA256(secret, body))`) and POSTs it to every
/// URL of the app, retrying a failed delivery after 0.5, 2 and 5 seconds.
final class WebhookDispatcher: Sendable {
    let mailbox = Mailbox<WebhookEvent>(capacity: 10_000, kind: .webhooks, name: "webhooks")
    private let logger: Logger
    static let retryDelays: [Duration] = [.milliseconds(500), .seconds(2), .seconds(5)]
    static let maxEventsPerRequest = 100

    init(logger: Logger) {
        self.logger = logger
    }

    // MARK: - Events (any thread)

    func channelOccupied(_ app: PusherApp, channel: String) {
        send(app, "{\"name\":\"channel_occupied\",\"channel\":\(JSONText.quoted(channel))}")
    }

    func channelVacated(_ app: PusherApp, channel: String) {
        send(app, "{\"name\":\"channel_vacated\",\"channel\":\(JSONText.quoted(channel))}")
    }

    func member(_ app: PusherApp, added: Bool, channel: String, userID: String) {
        let name = added ? "member_added" : "member_removed"
        send(app, "{\"name\":\"\(name)\",\"channel\":\(JSONText.quoted(channel)),\"user_id\":\(JSONText.quoted(userID))}")
    }

    /// `data` is the event's JSON value; the webhook carries it as a string, as Pusher does.
    func clientEvent(_ app: PusherApp, channel: String, event: String, data: [UInt8], socketID: String, userID: String?) {
        var text = String(decoding: data, as: UTF8.self)
        if data.count >= 2, data.first == UInt8(ascii: "\"") {
            let contents = JSONScanner.Span(start: 1, end: data.count - 1)
            text = data.withUnsafeBytes { JSONScanner.decodeString($0, contents, hasEscapes: data.contains(UInt8(ascii: "\\"))) } ?? text
        }
        var json = "{\"name\":\"client_event\",\"channel\":\(JSONText.quoted(channel)),\"event\":\(JSONText.quoted(event))"
        json += ",\"data\":\(JSONText.quoted(text)),\"socket_id\":\(JSONText.quoted(socketID))"
        if let userID { json += ",\"user_id\":\(JSONText.quoted(userID))" }
        send(app, json + "}")
    }

    /// Runs `done` once every event sent before this call was delivered (or given up on); never
    /// when the mailbox is full.
    func afterDelivery(_ done: @escaping @Sendable () -> Void) {
        if !mailbox.send(WebhookEvent(app: nil, json: "", delivered: done)) {
            logger.warning("webhook mailbox full; delivery confirmation dropped")
        }
    }

    private func send(_ app: PusherApp, _ json: String) {
        guard !app.webhooks.isEmpty else { return }
        if !mailbox.send(WebhookEvent(app: app, json: json)) {
            logger.warning("webhook mailbox full; event dropped", metadata: ["app": "\(app.id)"])
        }
    }

    // MARK: - Delivery

    /// Delivers until the mailbox is finished.
    func run() async {
        for await _ in mailbox.arrivals {
            let events = mailbox.drain()
            var byApp: [String: (app: PusherApp, events: [String])] = [:]
            var order: [String] = []
            for event in events {
                guard let app = event.app else { continue }
                if byApp[app.id] == nil { order.append(app.id) }
                byApp[app.id, default: (app, [])].events.append(event.json)
            }
            for id in order {
                guard let (app, list) = byApp[id] else { continue }
                for start in stride(from: 0, to: list.count, by: Self.maxEventsPerRequest) {
                    let batch = list[start..<min(list.count, start + Self.maxEventsPerRequest)]
                    let body = "{\"time_ms\":\(Int(WallClock.now() * 1000)),\"events\":[\(batch.joined(separator: ","))]}"
                    for url in app.webhooks { await deliver(body, to: url, app: app) }
                }
            }
            for event in events { event.delivered?() }
        }
    }

    private func deliver(_ body: String, to url: String, app: PusherApp) async {
        guard let target = URL(string: url) else { return }
        var request = URLRequest(url: target, timeoutInterval: 10)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(app.key, forHTTPHeaderField: "X-Pusher-Key")
        request.setValue(PusherSignature.hmacHex(secret: app.secret, body), forHTTPHeaderField: "X-Pusher-Signature")
        var failure = ""
        for attempt in 0...Self.retryDelays.count {
            if attempt > 0 { try? await Task.sleep(for: Self.retryDelays[attempt - 1]) }
            do {
                let (_, response) = try await URLSession.shared.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) { return }
                failure = "HTTP \(status)"
            } catch {
                failure = error.localizedDescription
            }
        }
        logger.warning("webhook not delivered", metadata: ["app": "\(app.id)", "url": "\(url)", "error": "\(failure)"])
    }
}

/// A change a Pusher app's webhooks hear of.
enum WebhookAnnouncement: Equatable, Sendable {
    case memberAdded(channel: String, user: String)
    case memberRemoved(channel: String, user: String)
    case channelOccupied(String)
    case channelVacated(String)

    /// The announcement a cluster script wrote (`kind` as Pusher names it); nil for another kind.
    init?(kind: String, channel: String, user: String) {
        switch kind {
        case "member_added": self = .memberAdded(channel: channel, user: user)
        case "member_removed": self = .memberRemoved(channel: channel, user: user)
        case "channel_occupied": self = .channelOccupied(channel)
        case "channel_vacated": self = .channelVacated(channel)
        default: return nil
        }
    }
}
