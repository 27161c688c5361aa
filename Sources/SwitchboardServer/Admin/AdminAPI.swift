public import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardCore

/// The authenticated HTTP control plane under `/api`: snapshots and rows from the metrics
/// collector, and operator actions (publish, broadcast, kick) on the hub.
public enum AdminAPI {
    static let maxBodyBytes = 1 << 20

    static func register(
        on router: Router<SwitchboardRequestContext>, hub: Hub, collector: MetricsCollector, access: AdminAccess, faultInjection: Bool
    ) {
        router.add(middleware: APIErrorMiddleware())
        let api = router.group("api").add(middleware: AdminAuthMiddleware(access: access))
        TraceRoute.register(on: router, hub: hub, access: access)

        api.get("stats") { request, _ in
            try encode(await collector.snapshot(query: try clientQuery(request)))
        }
        api.get("nodes") { _, _ in
            do throws(OperatorFailure) {
                let json = try await hub.nodesJSON(collector: collector)
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
            } catch {
                throw APIError(error)
            }
        }
        api.get("clients") { request, _ in
            try encode(await collector.clients(try clientQuery(request)))
        }
        api.get("clients/:id") { _, context in
            let id = try context.parameters.requireDecoded("id")
            let window = await collector.clients(ClientQuery(id: id, limit: 1))
            guard let row = window.rows.first else { throw APIError(.notFound, code: "not_found", "no client \(id)") }
            return try encode(row)
        }
        api.get("channels") { _, _ in
            let rows: [ChannelRow]
            do throws(OperatorFailure) { rows = try await hub.clusterChannelRows(await collector.channels()) } catch { throw APIError(error) }
            return try encode(rows)
        }
        api.get("channels/:name/history") { request, context in
            let name = try context.parameters.requireDecoded("name")
            guard ChannelName.isValid(name) else {
                throw APIError(.badRequest, code: "invalid_channel", "channel names are 1-\(ChannelName.maxLength) bytes of A-Z a-z 0-9 _ . : @ / -")
            }
            let query = request.uri.queryParameters
            var since: UInt64?
            if let text = query["since"] {
                guard let value = UInt64(text) else { throw APIError(.badRequest, code: "bad_request", "since must be a whole number (a seq)") }
                since = value
            }
            var limit = 100
            if let text = query["limit"] {
                guard let value = Int(text), (1...100_000).contains(value) else {
                    throw APIError(.badRequest, code: "bad_request", "limit must be a whole number from 1")
                }
                limit = value
            }
            let page: Result<ByteBuffer, Hub.HistoryRefusal>
            do {
                page = try await hub.historyJSON(of: name, since: since, epoch: query["epoch"].map(String.init), limit: limit)
            } catch {
                throw APIError(.serviceUnavailable, code: "unavailable", "the history cannot be read right now: \(error)")
            }
            switch page {
            case .success(let object):
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: object))
            case .failure(.none):
                throw APIError(.notFound, code: ProtocolError.Code.noHistory.rawValue, "\"\(name)\" keeps no history")
            case .failure(.unrecoverable(let position)):
                throw APIError(
                    .gone, code: ProtocolError.Code.unrecoverable.rawValue,
                    "not every message after seq \(since ?? 0) is kept in this epoch; the channel is at seq \(position.seq) of epoch \(position.epoch)"
                )
            }
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
            try await perform(type: "publish", jsonBody(request), on: hub)
        }
        api.post("broadcast") { request, _ in
            try await perform(type: "broadcast", jsonBody(request), on: hub)
        }
        api.post("clients/:id/kick") { request, context in
            let id = try context.parameters.requireDecoded("id")
            let body = try await jsonBody(request, allowEmpty: true)
            return try await perform(.kick(.client(id), reason: body.string("reason"), reconnect: body.bool("reconnect") ?? false), on: hub)
        }
        api.get("users/:user") { _, context in
            let user = try context.parameters.requireDecoded("user")
            let window = await collector.clients(ClientQuery(user: user, limit: ClientQuery.mostRowsPerWindow))
            return try encode(UserConnections(user: user, connections: window.rows, partial: window.partial, missing: window.missing))
        }
        api.post("users/:user/disconnect") { request, context in
            let user = try context.parameters.requireDecoded("user")
            let body = try await jsonBody(request, allowEmpty: true)
            let result = await hub.perform(.kick(.user(user), reason: body.string("reason"), reconnect: body.bool("reconnect") ?? false))
            switch result {
            case .failed(let failure): throw APIError(failure)
            case .kicked(let count, let missing):
                return try encode(UserDisconnection(closed: count, partial: missing.isEmpty ? nil : true, missing: missing.isEmpty ? nil : missing))
            default: return HTTPRoutes.json(.ok, "{" + result.jsonMembers + "}")
            }
        }
        api.post("kick") { request, _ in
            try await perform(type: "kick", jsonBody(request), on: hub)
        }
        if faultInjection {
            api.post("debug/fail") { _, _ in
                await collector.injectFailure()
                return HTTPRoutes.json(.ok, "{\"injected\":\"metrics\"}")
            }
        }
    }

    /// Reads an operator command of kind `type` from a request body (the admin stream's command
    /// object without `type`) and performs it.
    private static func perform(type: String, _ body: JSONObject, on hub: Hub) async throws -> Response {
        let command: OperatorCommand
        do {
            command = try OperatorCommand(type: type, body, publishFrom: "api")
        } catch {
            throw APIError(error)
        }
        return try await perform(command, on: hub)
    }

    /// Performs `command` and answers its result as the body (`{"reached":…}`, `{"channel":…,
    /// "seq":…,"reached":…}`, `{"kicked":…}`), or the failure as an ``APIError``.
    private static func perform(_ command: OperatorCommand, on hub: Hub) async throws -> Response {
        let result = await hub.perform(command)
        if case .failed(let failure) = result { throw APIError(failure) }
        return HTTPRoutes.json(.ok, "{" + result.jsonMembers + "}")
    }

    static func clientQuery(_ request: Request) throws -> ClientQuery {
        let parameters = request.uri.queryParameters
        var query = ClientQuery()
        if let sort = parameters["sort"] {
            guard let key = ClientQuery.SortKey(rawValue: String(sort)) else {
                throw APIError(
                    .badRequest, code: "invalid_sort", "sort must be one of: " + ClientQuery.SortKey.allCases.map(\.rawValue).joined(separator: ", "))
            }
            query.sort = key
        }
        if let order = parameters["order"] { query.descending = order == "desc" }
        if let descending = parameters["desc"] { query.descending = descending == "1" || descending == "true" }
        query.filter = parameters["filter"].map(String.init) ?? ""
        query.channel = parameters["channel"].map(String.init)
        query.offset = parameters["offset"].flatMap { Int($0) }.map { max(0, $0) } ?? 0
        query.limit = parameters["limit"].flatMap { Int($0) }.map { min(max(0, $0), ClientQuery.mostRowsPerWindow) } ?? 50
        return query
    }

    static func jsonBody(_ request: Request, allowEmpty: Bool = false) async throws -> JSONObject {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "content_too_large", "the body is larger than \(maxBodyBytes / 1024) KiB")
        }
        let bytes = Array(buffer.readableBytesView)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) && allowEmpty {
            return try JSONObject(parsing: Array("{}".utf8))
        }
        do {
            return try JSONObject(parsing: bytes)
        } catch {
            throw APIError(.badRequest, code: "invalid_json", "the body must be a JSON object: \(error)")
        }
    }

    /// `GET /api/users/{user}`: the user's connections on every node.
    struct UserConnections: Encodable {
        var user: String
        var connections: [ClientRow]
        var partial: Bool?
        var missing: [String]?
    }

    /// `POST /api/users/{user}/disconnect`: how many connections are being closed.
    struct UserDisconnection: Encodable {
        var closed: Int
        var partial: Bool?
        var missing: [String]?
    }

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func encode(_ value: some Encodable) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
