import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SwitchboardCore

/// The Pusher Channels HTTP API (`/apps/{id}/…`), signed with the app's secret: trigger events,
/// query channels and users, terminate a user's connections.
///
/// Every request must carry `auth_key`, `auth_timestamp` (within 600 s), `auth_version=1.0`,
/// `body_md5` and `auth_signature` (see ``PusherRequestAuth``). Every success has a JSON body.
enum PusherAPI {
    static let maxBodyBytes = 1 << 20
    /// Most channels one trigger may name (Pusher's limit).
    static let maxChannelsPerTrigger = 100
    /// Most events in one batch (Pusher's limit).
    static let maxBatchEvents = 10

    static func register(on router: Router<SwitchboardRequestContext>, hub: Hub) {
        router.post("/apps/:app_id/events") { request, context in
            await signed(request, context, hub) { app, _, body in try await trigger(body, app: app, hub: hub) }
        }
        router.post("/apps/:app_id/batch_events") { request, context in
            await signed(request, context, hub) { app, _, body in try await batch(body, app: app, hub: hub) }
        }
        router.get("/apps/:app_id/channels") { request, context in
            await signed(request, context, hub) { app, auth, _ in try await channels(auth, app: app, hub: hub) }
        }
        router.get("/apps/:app_id/channels/:channel_name") { request, context in
            await signed(request, context, hub) { app, auth, _ in
                try await channel(try name(context), info: auth.parameter("info"), app: app, hub: hub)
            }
        }
        router.get("/apps/:app_id/channels/:channel_name/users") { request, context in
            await signed(request, context, hub) { app, _, _ in try await users(try name(context), app: app, hub: hub) }
        }
        let terminate: @Sendable (Request, SwitchboardRequestContext) async -> Response = { request, context in
            await signed(request, context, hub) { app, _, _ in
                let user = try pathParameter("user_id", context) ?? ""
                let (closed, missing): (Int, [String])
                do throws(OperatorFailure) {
                    (closed, missing) = try await hub.terminate(appID: app.id, userID: user)
                } catch {
                    throw PusherAPIError(status: .serviceUnavailable, message: error.message)
                }
                var metadata: Logger.Metadata = ["app": "\(app.id)", "user": "\(user)", "connections": "\(closed)"]
                if !missing.isEmpty { metadata["no_answer_from"] = "\(missing.joined(separator: ","))" }
                hub.logger.info("pusher user terminated", metadata: metadata)
                return ok("{}")
            }
        }
        router.post("/apps/:app_id/users/:user_id/terminate_connections", use: terminate)
        // One official library sends this path without the /apps/{id} prefix.
        router.post("/users/:user_id/terminate_connections", use: terminate)
    }

    /// Reads the body, checks the signature and that the key belongs to the app in the path,
    /// then runs `handler`.
    private static func signed(
        _ request: Request, _ context: SwitchboardRequestContext, _ hub: Hub,
        _ handler: (PusherApp, PusherRequestAuth, [UInt8]) async throws -> Response
    ) async -> Response {
        do {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxBodyBytes)
            } catch {
                throw PusherAPIError(status: .contentTooLarge, message: "request body larger than \(maxBodyBytes) bytes")
            }
            let bytes = Array(body.readableBytesView)
            let auth = PusherRequestAuth(method: request.method.rawValue, path: request.uri.path, rawQuery: request.uri.query, body: bytes)
            let app: PusherApp
            switch auth.verify(apps: { hub.apps.byKey[$0] }, now: Int(WallClock.now())) {
            case .success(let verified): app = verified
            case .failure(let failure): throw PusherAPIError(status: HTTPResponse.Status(code: failure.status), message: failure.message)
            }
            if let id = try pathParameter("app_id", context), id != app.id {
                throw PusherAPIError(
                    status: hub.apps.byID[id] == nil ? .notFound : .unauthorized, message: "auth_key \(app.key) does not belong to app \(id)")
            }
            return try await handler(app, auth, bytes)
        } catch let error as PusherAPIError {
            return error.response
        } catch {
            return PusherAPIError(status: .badRequest, message: "\(error)").response
        }
    }

    private static func ok(_ body: String) -> Response {
        HTTPRoutes.json(.ok, body)
    }

    private static func bad(_ message: String) -> PusherAPIError {
        PusherAPIError(status: .badRequest, message: message)
    }

    /// The path parameter `name`, percent-decoded; a malformed encoding is a 400.
    private static func pathParameter(_ name: String, _ context: SwitchboardRequestContext) throws(PusherAPIError) -> String? {
        do {
            return try context.parameters.decoded(name)
        } catch {
            throw bad(error.message)
        }
    }

    private static func name(_ context: SwitchboardRequestContext) throws -> String {
        let name = try pathParameter("channel_name", context) ?? ""
        guard PusherChannel.isValid(name) else { throw bad("invalid channel name \(name)") }
        return name
    }

    // MARK: - Events

    /// One event of a trigger or a batch, checked.
    private struct Event {
        var name: String
        var channels: [String]
        var data: ByteBuffer
        var socketID: String?
        /// A retried trigger with the same key is not published again on a channel that had it.
        var idempotencyKey: String?
    }

    private static func jsonObject(_ bytes: [UInt8]) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? [String: Any] else {
            throw bad("the body must be a JSON object")
        }
        return object
    }

    private static func event(_ object: [String: Any], app: PusherApp) throws -> Event {
        guard let name = object["name"] as? String, (1...PusherRequest.maxEventNameLength).contains(name.utf8.count) else {
            throw bad("\"name\" must be a string of 1-\(PusherRequest.maxEventNameLength) bytes")
        }
        var channels: [String]
        if let list = object["channels"] {
            guard let names = list as? [String] else { throw bad("\"channels\" must be an array of channel names") }
            channels = names
        } else if let single = object["channel"] as? String {
            channels = [single]
        } else {
            throw bad("give \"channels\" (an array) or \"channel\"")
        }
        guard (1...maxChannelsPerTrigger).contains(channels.count) else {
            throw bad("an event goes to 1-\(maxChannelsPerTrigger) channels, not \(channels.count)")
        }
        if let invalid = channels.first(where: { !PusherChannel.isValid($0) }) {
            throw bad("invalid channel name \"\(invalid)\": 1-\(PusherChannel.maxLength) bytes of A-Z a-z 0-9 _ - = @ , . ;")
        }
        // `data` is normally a string (usually JSON text); other values are forwarded as JSON.
        let data: [UInt8]
        let size: Int
        switch object["data"] {
        case let text as String:
            data = Array(JSONText.quoted(text).utf8)
            size = text.utf8.count
        case nil: throw bad("\"data\" is required")
        case let value?:
            data = Array(try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]))
            size = data.count
        }
        guard size <= app.maxEventBytes else {
            throw PusherAPIError(status: .contentTooLarge, message: "event data larger than \(app.maxEventBytes) bytes")
        }
        var socketID: String?
        if let value = object["socket_id"] {
            guard let text = value as? String, isSocketID(text) else { throw bad("\"socket_id\" must look like 123.456") }
            socketID = text
        }
        var idempotencyKey: String?
        if let value = object["idempotency_key"] {
            guard let text = value as? String, IdempotencyKeys.isValid(text) else { throw bad(IdempotencyKeys.rule) }
            idempotencyKey = text
        }
        return Event(name: name, channels: channels, data: ByteBuffer(bytes: data), socketID: socketID, idempotencyKey: idempotencyKey)
    }

    private static func isSocketID(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.count <= 20 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    /// Publishes every event on every one of its channels, in order; throws 503 when the hub
    /// refused them (draining, overloaded, or the engine cannot take them).
    private static func publish(_ events: [Event], app: PusherApp, hub: Hub) async throws {
        let publications = events.flatMap { event in
            event.channels.map { channel in
                Publication(
                    channel: app.hubChannel(channel), kind: .message(event: event.name, user: nil), data: event.data, from: "api",
                    except: event.socketID, idempotencyKey: event.idempotencyKey)
            }
        }
        if let refusal = await hub.submit(publications) { throw PusherAPIError(status: .serviceUnavailable, message: refusal) }
    }

    private static func trigger(_ body: [UInt8], app: PusherApp, hub: Hub) async throws -> Response {
        try await publish([try event(try jsonObject(body), app: app)], app: app, hub: hub)
        return ok("{}")
    }

    private static func batch(_ body: [UInt8], app: PusherApp, hub: Hub) async throws -> Response {
        guard let list = try jsonObject(body)["batch"] as? [[String: Any]] else { throw bad("\"batch\" must be an array of events") }
        guard list.count <= maxBatchEvents else { throw bad("a batch holds at most \(maxBatchEvents) events, not \(list.count)") }
        // Check every event before publishing any, so a bad batch publishes nothing.
        let events = try list.map { try event($0, app: app) }
        try await publish(events, app: app, hub: hub)
        return ok("{\"batch\":[\(events.map { _ in "{}" }.joined(separator: ","))]}")
    }

    // MARK: - Queries

    private static func attributes(_ info: String?) -> Set<String> {
        Set((info ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    private static func channels(_ auth: PusherRequestAuth, app: PusherApp, hub: Hub) async throws -> Response {
        let prefix = auth.parameter("filter_by_prefix") ?? ""
        let wanted = attributes(auth.parameter("info"))
        if wanted.contains("user_count") && !prefix.hasPrefix("presence-") {
            throw bad("user_count may only be requested with filter_by_prefix=presence-")
        }
        let counts = try await channelCounts(prefix: app.hubChannel(prefix), hub: hub)
        var entries: [String] = []
        for (hubChannel, count) in counts.sorted(by: { $0.key < $1.key }) {
            guard let name = app.channelName(ofHubChannel: hubChannel) else { continue }
            var fields: [String] = []
            if wanted.contains("user_count") { fields.append("\"user_count\":\(count.users)") }
            if wanted.contains("subscription_count") { fields.append("\"subscription_count\":\(count.subscriptions)") }
            entries.append("\(JSONText.quoted(name)):{\(fields.joined(separator: ","))}")
        }
        return ok("{\"channels\":{\(entries.joined(separator: ","))}}")
    }

    private static func channel(_ name: String, info: String?, app: PusherApp, hub: Hub) async throws -> Response {
        let wanted = attributes(info)
        let isPresence = PusherChannel.Kind(name: name) == .presence
        if wanted.contains("user_count") && !isPresence { throw bad("user_count is only available for presence channels") }
        let hubChannel = app.hubChannel(name)
        let count = try await channelCounts(prefix: hubChannel, hub: hub)[hubChannel] ?? (0, 0)
        var fields = ["\"occupied\":\(count.subscriptions > 0)"]
        if wanted.contains("user_count") { fields.append("\"user_count\":\(count.users)") }
        if wanted.contains("subscription_count") { fields.append("\"subscription_count\":\(count.subscriptions)") }
        return ok("{\(fields.joined(separator: ","))}")
    }

    /// Subscriptions and users of the channels starting with `prefix`, on every node; 503 when
    /// the engine cannot say.
    private static func channelCounts(prefix: String, hub: Hub) async throws -> [String: (subscriptions: Int, users: Int)] {
        do throws(OperatorFailure) { return try await hub.channelCounts(prefix: prefix) } catch {
            throw PusherAPIError(status: .serviceUnavailable, message: error.message)
        }
    }

    private static func users(_ name: String, app: PusherApp, hub: Hub) async throws -> Response {
        guard PusherChannel.Kind(name: name) == .presence else { throw bad("users are only available for presence channels") }
        let members: [PresenceMember]
        do throws(OperatorFailure) { members = try await hub.clusterMembers(of: app.hubChannel(name)) } catch {
            throw PusherAPIError(status: .serviceUnavailable, message: error.message)
        }
        let ids = members.map { "{\"id\":\(JSONText.quoted($0.userID))}" }
        return ok("{\"users\":[\(ids.joined(separator: ","))]}")
    }
}
