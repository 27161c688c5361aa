import NIOCore
import RedisClient
import SwitchboardCore

/// Webhooks the cluster's scripts announced, delivered by whichever live node reads them first:
/// the scripts that change presence or occupancy append `{k: kind, c: channel, u: user}` to their
/// partition's stream `<prefix>:{<p>}:webhooks`, and every node that delivers webhooks reads the
/// streams as one consumer of the group `deliverers`, hands each entry to its webhook dispatcher,
/// and acknowledges it once delivered (at least once: a node that stalls past ``claimAfter`` may
/// see another deliver too). Entries a node read but never acknowledged (it died) are claimed by
/// another after ``claimAfter``. A change and its webhook happen together, however the reply to
/// the node fares.
extension ClusterLink {
    /// How often an idle node looks for new announcements.
    static let webhookPoll = TimeAmount.milliseconds(200)
    /// How long an announcement may stay read but not delivered before another node takes it:
    /// as long as a node may stay silent before it is declared dead.
    static let claimAfter = NodeRegistry.deadAfter

    private static let group = "deliverers"

    /// Reads the webhook streams on the link's loop while the node runs.
    func startDeliveringWebhooks() {
        let loop = eventLoop
        loop.scheduleRepeatedAsyncTask(initialDelay: Self.webhookPoll, delay: Self.webhookPoll) { [weak self] task in
            guard let self else {
                task.cancel()
                return loop.makeSucceededVoidFuture()
            }
            return self.deliverWebhooks()
        }
    }

    /// One round: new entries of every partition's stream (and abandoned ones of one partition,
    /// in turn), delivered and acknowledged. Every request is sent at once.
    private func deliverWebhooks() -> EventLoopFuture<Void> {
        guard isUp else { return eventLoop.makeSucceededVoidFuture() }
        let claiming = webhooksClaimNext
        webhooksClaimNext = (webhooksClaimNext + 1) % keys.partitions
        let rounds = keys.allPartitions.map { deliverWebhooks(of: $0, claiming: $0 == claiming) }
        return EventLoopFuture.andAllComplete(rounds, on: eventLoop)
    }

    private func deliverWebhooks(of partition: Int, claiming: Bool) -> EventLoopFuture<Void> {
        let stream = keys.webhooks(partition)
        // After a round that failed (its reply may have been lost with the connection), this
        // node's own unacknowledged entries are read again first ("0"), then new ones (">").
        let from = webhooksUnread.contains(partition) ? "0" : ">"
        let read = connection.send(
            ["XREADGROUP", "GROUP", Self.group, nodeName, "COUNT", "100", "STREAMS"].map { ByteBuffer(string: $0) } + [
                stream, ByteBuffer(string: from),
            ], routedBy: stream)
        let claim =
            claiming
            ? connection.send(
                [ByteBuffer(string: "XAUTOCLAIM"), stream]
                    + [Self.group, nodeName, String(Self.claimAfter.components.seconds * 1000), "0-0", "COUNT", "100"].map { ByteBuffer(string: $0) })
            : eventLoop.makeSucceededFuture(RESPValue.array([]))
        return read.and(claim).map { fresh, claimed in
            // XREADGROUP: [[stream, [[id, [field, value, …]], …]]]; XAUTOCLAIM: [next, [[id, fields], …], …].
            let own = fresh.elements?.first?.elements?.last?.elements ?? []
            if from == "0" && own.isEmpty { self.webhooksUnread.remove(partition) }
            self.deliver(own + (claimed.elements?.dropFirst().first?.elements ?? []), from: stream)
        }.flatMapError { error in
            self.webhooksUnread.insert(partition)
            guard case RedisError.reply(let message) = error, message.hasPrefix("NOGROUP") else { return self.eventLoop.makeSucceededVoidFuture() }
            // No stream or no group yet (a new cluster, the stream expired, or Redis lost its
            // data): create both, from the stream's start, so nothing announced before is skipped.
            return self.connection.send(
                [ByteBuffer(string: "XGROUP"), ByteBuffer(string: "CREATE"), stream] + [Self.group, "0", "MKSTREAM"].map { ByteBuffer(string: $0) },
                routedBy: stream
            ).map { _ in }.recover { _ in }
        }
    }

    /// Hands the entries' announcements to the node's dispatcher and acknowledges them once it
    /// delivered them: a node that dies before that leaves them to another (``claimAfter``).
    private func deliver(_ entries: [RESPValue], from stream: ByteBuffer) {
        var announcements: [WebhookAnnouncement] = []
        var ids: [ByteBuffer] = []
        for entry in entries {
            guard let parts = entry.elements, parts.count == 2, case .bulkString(let id?) = parts[0] else { continue }
            var fields: [String: String] = [:]
            let values = parts[1].elements ?? []
            for index in stride(from: 0, to: values.count - 1, by: 2) {
                if let name = values[index].string { fields[name] = values[index + 1].string ?? "" }
            }
            if let announcement = WebhookAnnouncement(kind: fields["k"] ?? "", channel: fields["c"] ?? "", user: fields["u"] ?? "") {
                announcements.append(announcement)
            }
            ids.append(id)
        }
        guard !ids.isEmpty else { return }
        handOver(announcements) { [connection, ids] in
            _ = connection.send([ByteBuffer(string: "XACK"), stream, ByteBuffer(string: Self.group)] + ids)
        }
    }
}
