public import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
public import SwitchboardCore

/// The authenticated HTTP control plane under `/api`: snapshots and rows from the metrics
/// collector, and operator actions (publish, broadcast, kick) on the hub.
public enum AdminAPI {
    static let maxBodyBytes = 1 << 20

    static func register(on router: Router<BasicRequestContext>, hub: Hub, collector: MetricsCollector, access: AdminAccess, faultInjection: Bool) {
        let api = router.group("api").add(middleware: AdminAuthMiddleware(access: access))

        api.get("stats") { request, _ in
            try encode(await collector.snapshot(query: try clientQuery(request)))
        }
        api.get("clients") { request, _ in
            try encode(await collector.clients(try clientQuery(request)))
        }
        api.get("clients/:id") { _, context in
            let id = try context.parameters.require("id")
            let window = await collector.clients(ClientQuery(filter: "", limit: .max))
            guard let row = window.rows.first(where: { $0.id == id }) else {
                return HTTPRoutes.json(.notFound, HTTPRoutes.errorBody("not_found", "no client \(id)"))
            }
            return try encode(row)
        }
        api.get("channels") { _, _ in
            try encode(await collector.channels())
        }
        api.get("actors") { request, _ in
            let limit = request.uri.queryParameters["limit"].flatMap { Int($0) } ?? 100
            return try encode(await collector.actors(limit: limit))
        }
        api.get("events") { request, _ in
            let since = request.uri.queryParameters["since"].flatMap { UInt64($0) } ?? 0
            let limit = request.uri.queryParameters["limit"].flatMap { Int($0) } ?? 1000
            return try encode(await collector.events(since: since, limit: limit))
        }
        api.post("publish") { request, _ in
            let body = try await jsonBody(request)
            guard let channel = body.string("channel"), ChannelName.isValid(channel) else {
                return badRequest("invalid_channel", "\"channel\" must be 1-128 bytes of A-Z a-z 0-9 _ . : @ / -")
            }
            guard let data = body.raw("data") else { return badRequest("missing_data", "\"data\" (any JSON value) is required") }
            let (seq, reached) = await hub.publish(channel: channel, data: ByteBuffer(bytes: data), from: "api")
            return HTTPRoutes.json(.ok, "{\"channel\":\(JSONText.quoted(channel)),\"seq\":\(seq),\"reached\":\(reached)}")
        }
        api.post("broadcast") { request, _ in
            let body = try await jsonBody(request)
            guard let data = body.raw("data") else { return badRequest("missing_data", "\"data\" (any JSON value) is required") }
            if body.has("channel") {
                guard let channel = body.string("channel"), ChannelName.isValid(channel) else {
                    return badRequest("invalid_channel", "\"channel\" must be 1-128 bytes of A-Z a-z 0-9 _ . : @ / -")
                }
                let (seq, reached) = await hub.publish(channel: channel, data: ByteBuffer(bytes: data), from: "operator")
                return HTTPRoutes.json(.ok, "{\"channel\":\(JSONText.quoted(channel)),\"seq\":\(seq),\"reached\":\(reached)}")
            }
            let reached = await hub.broadcast(data: ByteBuffer(bytes: data))
            return HTTPRoutes.json(.ok, "{\"reached\":\(reached)}")
        }
        api.post("clients/:id/kick") { request, context in
            let id = try context.parameters.require("id")
            let body = try await jsonBody(request, allowEmpty: true)
            let reconnect = body.bool("reconnect") ?? false
            let reason = body.string("reason") ?? (reconnect ? "reconnect" : "kicked by operator")
            guard await hub.kick(id, reason: reason, code: reconnect ? .reconnect : .kicked) else {
                return HTTPRoutes.json(.notFound, HTTPRoutes.errorBody("not_found", "no client \(id)"))
            }
            return HTTPRoutes.json(.ok, "{\"kicked\":1}")
        }
        api.post("kick") { request, _ in
            let body = try await jsonBody(request)
            let reconnect = body.bool("reconnect") ?? false
            let code: CloseCode = reconnect ? .reconnect : .kicked
            let reason = body.string("reason") ?? (reconnect ? "reconnect" : "kicked by operator")
            if let channel = body.string("channel") {
                return HTTPRoutes.json(.ok, "{\"kicked\":\(await hub.kickAll(channel: channel, reason: reason, code: code))}")
            }
            guard body.bool("all") == true else {
                return badRequest("bad_request", "give {\"channel\":\"…\"} or {\"all\":true}, optionally with \"reconnect\":true")
            }
            return HTTPRoutes.json(.ok, "{\"kicked\":\(await hub.kickAll(reason: reason, code: code))}")
        }
        if faultInjection {
            api.post("debug/fail") { _, _ in
                await collector.injectFailure()
                return HTTPRoutes.json(.ok, "{\"injected\":\"metrics\"}")
            }
        }
    }

    static func clientQuery(_ request: Request) throws -> ClientQuery {
        let parameters = request.uri.queryParameters
        var query = ClientQuery()
        if let sort = parameters["sort"] {
            guard let key = ClientQuery.SortKey(rawValue: String(sort)) else {
                throw HTTPError(.badRequest, message: "sort must be one of: " + ClientQuery.SortKey.allCases.map(\.rawValue).joined(separator: ", "))
            }
            query.sort = key
        }
        if let order = parameters["order"] { query.descending = order == "desc" }
        if let descending = parameters["desc"] { query.descending = descending == "1" || descending == "true" }
        query.filter = parameters["filter"].map(String.init) ?? ""
        query.channel = parameters["channel"].map(String.init)
        query.offset = parameters["offset"].flatMap { Int($0) }.map { max(0, $0) } ?? 0
        query.limit = parameters["limit"].flatMap { Int($0) }.map { min(max(0, $0), 10_000) } ?? 50
        return query
    }

    static func jsonBody(_ request: Request, allowEmpty: Bool = false) async throws -> JSONObject {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        let bytes = Array(buffer.readableBytesView)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) && allowEmpty {
            return try JSONObject(parsing: Array("{}".utf8))
        }
        do {
            return try JSONObject(parsing: bytes)
        } catch {
            throw HTTPError(.badRequest, message: "the body must be a JSON object: \(error)")
        }
    }

    static func badRequest(_ code: String, _ message: String) -> Response {
        HTTPRoutes.json(.badRequest, HTTPRoutes.errorBody(code, message))
    }

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// A client query as the admin stream's `view` command expects it.
    public static func encodeQuery(_ query: ClientQuery) throws -> String {
        String(decoding: try JSONEncoder().encode(query), as: UTF8.self)
    }

    static func encode(_ value: some Encodable) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
