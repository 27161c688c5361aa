import Foundation
import RedisClient
import SwitchboardCore

/// What a node says of itself in `GET /api/nodes` and in its heartbeat: the members of a JSON
/// object without its braces, so the API can put the name, state and heartbeat age in front.
struct NodeReport: Sendable {
    var address: String
    var uptimeSeconds: Double
    var totals: Totals
    /// Rates over the last ten seconds.
    var rates: Rates
    /// The Redis link; nil when the node is not clustered.
    var link: LinkFigures?

    struct LinkFigures: Sendable {
        var up: Bool
        /// The last heartbeat's round trip to Redis, in milliseconds (nil before the first).
        var roundTripMilliseconds: Double?
        var pending: Int
        var reconnects: Int
        var subscriberUp: Bool
        var lastError: String?
        /// The server the node's requests go to (with Sentinel: the current master).
        var server: RedisAddress.Endpoint?
        /// That server's role and replicas, as the last heartbeat read them.
        var replication: ReplicationInfo?
        /// With Redis Cluster: each master the node's requests go to.
        var shards: [ShardFigures] = []
    }

    /// One master of a Redis Cluster, as the node's connections to it stand.
    struct ShardFigures: Sendable {
        var address: RedisAddress.Endpoint
        var slots: Int
        var replicas: [RedisAddress.Endpoint]
        /// The request connection.
        var up: Bool
        var pending: Int
        var reconnects: Int
        var lastError: String?
        /// The request connection's last `PING` round trip (nil before the first, and while down).
        var roundTrip: Duration?
        /// The subscriber connection (`SSUBSCRIBE`).
        var subscriberUp: Bool

        /// The shard as the nodes pane shows it.
        var row: ShardRow {
            ShardRow(
                address: "\(address)", role: "master", roundTripMicroseconds: roundTripMicroseconds, pending: pending, up: up,
                subscriberUp: subscriberUp)
        }

        /// ``roundTrip`` in whole microseconds.
        var roundTripMicroseconds: Int? {
            roundTrip.map { Int($0.components.seconds * 1_000_000 + $0.components.attoseconds / 1_000_000_000_000) }
        }

        var json: String {
            "{\"address\":\(JSONText.quoted("\(address)")),\"role\":\"master\",\"slots\":\(slots),"
                + "\"replicas\":[\(replicas.map { JSONText.quoted("\($0)") }.joined(separator: ","))],"
                + "\"up\":\(up),\"pending\":\(pending),\"reconnects\":\(reconnects),\"last_error\":\(lastError.map(JSONText.quoted) ?? "null"),"
                + "\"round_trip_us\":\(roundTripMicroseconds.map(String.init) ?? "null"),\"subscriber_up\":\(subscriberUp)}"
        }
    }

    var jsonMembers: String {
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        var text = "\"address\":\(JSONText.quoted(address)),\"uptime_s\":\(Int(uptimeSeconds)),"
        text += "\"connections\":\(totals.connections),\"subscriptions\":\(totals.subscriptions),\"channels\":\(totals.channels),"
        text += "\"mailbox_depth\":\(totals.mailboxDepth),\"messages_lost\":\(totals.messagesLost),"
        text += "\"messages_in_per_s\":\(number(rates.messagesIn)),\"messages_out_per_s\":\(number(rates.messagesOut)),"
        text += "\"deliveries_per_s\":\(number(rates.deliveries)),"
        guard let link else { return text + "\"redis\":null" }
        text += "\"redis\":{\"up\":\(link.up),\"subscriber_up\":\(link.subscriberUp),"
        text += "\"rtt_ms\":\(link.roundTripMilliseconds.map { String(format: "%.2f", $0) } ?? "null"),"
        text += "\"pending\":\(link.pending),\"reconnects\":\(link.reconnects),"
        text += "\"last_error\":\(link.lastError.map(JSONText.quoted) ?? "null"),"
        text += "\"server\":\(link.server.map { JSONText.quoted("\($0)") } ?? "null")"
        if let replication = link.replication {
            let replicas = replication.replicas.map { replica in
                "{\"address\":\(JSONText.quoted("\(replica.address)")),\"state\":\(JSONText.quoted(replica.state)),"
                    + "\"lag_s\":\(replica.lagSeconds),\"behind_bytes\":\(replica.behindBytes)}"
            }
            text += ",\"role\":\(JSONText.quoted(replication.role)),\"replicas\":[\(replicas.joined(separator: ","))]"
            text += ",\"summary\":\(JSONText.quoted(replication.summary))"
        }
        if !link.shards.isEmpty {
            text += ",\"role\":\"cluster\",\"shards\":[\(link.shards.map(\.json).joined(separator: ","))]"
            text += ",\"summary\":\(JSONText.quoted("cluster of \(link.shards.count) masters, \(link.shards.filter(\.up).count) up"))"
        }
        return text + "}"
    }
}
