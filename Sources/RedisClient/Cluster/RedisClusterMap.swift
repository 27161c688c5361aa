/// Which master serves each of a Redis Cluster's hash slots, and its replicas: the reply of
/// `CLUSTER SLOTS` as a value.
///
/// Masters are grouped into ``shards`` (ordered by their first slot, replicas by address), so
/// two maps read from different nodes of a settled cluster are equal.
public struct RedisClusterMap: Sendable, Equatable {
    /// One node: where it is, and its id when the reply gave one.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var endpoint: RedisAddress.Endpoint
        public var id: String?

        public init(endpoint: RedisAddress.Endpoint, id: String? = nil) {
            self.endpoint = endpoint
            self.id = id
        }

        public var description: String { endpoint.description }
    }

    /// A master, the slots it serves and its replicas.
    public struct Shard: Sendable, Equatable {
        public var master: Node
        public var slots: [ClosedRange<Int>]
        public var replicas: [Node]

        public init(master: Node, slots: [ClosedRange<Int>], replicas: [Node]) {
            self.master = master
            self.slots = slots
            self.replicas = replicas
        }
    }

    public private(set) var shards: [Shard]
    /// For each slot, the index of its shard in ``shards``, or -1 while no master serves it.
    private var owners: [Int16]

    /// Reads a `CLUSTER SLOTS` reply: `[[first, last, [host, port, id?, …], replica…], …]`. A
    /// node whose host is empty (a node that does not know its own address) is given
    /// `answeredBy`'s host. Nil when the reply is not of that shape.
    public init?(slots reply: RESPValue, answeredBy: RedisAddress.Endpoint? = nil) {
        guard let ranges = reply.elements else { return nil }
        var shards: [Shard] = []
        var owners = [Int16](repeating: -1, count: RedisSlot.count)
        for range in ranges {
            guard let parts = range.elements, parts.count >= 3, let first = parts[0].int, let last = parts[1].int,
                0 <= first, first <= last, last < RedisSlot.count
            else { return nil }
            var nodes: [Node] = []
            for part in parts[2...] {
                guard let node = Self.node(part, answeredBy: answeredBy) else { return nil }
                nodes.append(node)
            }
            let master = nodes.removeFirst()
            let slots = Int(first)...Int(last)
            let index: Int
            if let known = shards.firstIndex(where: { $0.master.endpoint == master.endpoint }) {
                index = known
                shards[index].slots.append(slots)
            } else {
                index = shards.count
                shards.append(Shard(master: master, slots: [slots], replicas: nodes.sorted { $0.description < $1.description }))
            }
            for slot in slots { owners[slot] = Int16(index) }
        }
        // In slot order, with each shard's ranges sorted and adjacent ones joined.
        for index in shards.indices { shards[index].slots = Self.joined(shards[index].slots) }
        let order = shards.indices.sorted { shards[$0].slots[0].lowerBound < shards[$1].slots[0].lowerBound }
        var renumbered = [Int16](repeating: -1, count: shards.count)
        for (new, old) in order.enumerated() { renumbered[old] = Int16(new) }
        self.shards = order.map { shards[$0] }
        self.owners = owners.map { $0 < 0 ? $0 : renumbered[Int($0)] }
    }

    /// The master serving `slot`, if any.
    public func master(ofSlot slot: Int) -> RedisAddress.Endpoint? {
        shard(ofSlot: slot)?.master.endpoint
    }

    /// The shard serving `slot`, if any.
    public func shard(ofSlot slot: Int) -> Shard? {
        shardIndex(ofSlot: slot).map { shards[$0] }
    }

    /// The index in ``shards`` of the shard serving `slot`, if any.
    public func shardIndex(ofSlot slot: Int) -> Int? {
        guard owners.indices.contains(slot), owners[slot] >= 0 else { return nil }
        return Int(owners[slot])
    }

    /// Slots that changed master between `previous` and this map, by old and new master.
    public struct MasterChange: Sendable, Equatable, CustomStringConvertible {
        public var from: RedisAddress.Endpoint
        public var to: RedisAddress.Endpoint
        public var slots: [ClosedRange<Int>]

        public init(from: RedisAddress.Endpoint, to: RedisAddress.Endpoint, slots: [ClosedRange<Int>]) {
            self.from = from
            self.to = to
            self.slots = slots
        }

        public var description: String {
            "slots \(slots.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")) from \(from) to \(to)"
        }
    }

    /// The slots whose master in this map is a server that was no master in `previous` (a
    /// replica promoted by a failover, or a node new to the map), by their master in `previous`.
    /// Slots `previous` had no master for are not counted, nor a slot migrated to a server that
    /// already was a master (resharding moves a slot's keys with it: the data is unchanged).
    public func masterChanges(since previous: RedisClusterMap) -> [MasterChange] {
        let known = Set(previous.masters)
        return slotsMoved(since: previous) { !known.contains($0) }
    }

    /// The slots migrated since `previous` from one of its masters to another (resharding), by
    /// their old and new master.
    public func migrations(since previous: RedisClusterMap) -> [MasterChange] {
        let known = Set(previous.masters)
        return slotsMoved(since: previous) { known.contains($0) }
    }

    /// The slots whose master changed since `previous` to a master `counted`, grouped by old
    /// and new master into ranges.
    private func slotsMoved(since previous: RedisClusterMap, to counted: (RedisAddress.Endpoint) -> Bool) -> [MasterChange] {
        var changes: [MasterChange] = []
        for shard in shards where counted(shard.master.endpoint) {
            for range in shard.slots {
                for slot in range {
                    guard let from = previous.master(ofSlot: slot), from != shard.master.endpoint else { continue }
                    if let index = changes.lastIndex(where: { $0.from == from && $0.to == shard.master.endpoint }) {
                        if changes[index].slots.last!.upperBound + 1 == slot {
                            changes[index].slots[changes[index].slots.count - 1] = changes[index].slots.last!.lowerBound...slot
                        } else {
                            changes[index].slots.append(slot...slot)
                        }
                    } else {
                        changes.append(MasterChange(from: from, to: shard.master.endpoint, slots: [slot...slot]))
                    }
                }
            }
        }
        return changes
    }

    /// Every master's address, in ``shards`` order.
    public var masters: [RedisAddress.Endpoint] { shards.map(\.master.endpoint) }

    /// Whether every slot has a master.
    public var coversEverySlot: Bool { !owners.contains(-1) }

    public static func == (left: RedisClusterMap, right: RedisClusterMap) -> Bool {
        left.shards == right.shards
    }

    private static func node(_ value: RESPValue, answeredBy: RedisAddress.Endpoint?) -> Node? {
        guard let parts = value.elements, parts.count >= 2, let host = parts[0].string, let port = parts[1].int, (1...65535).contains(port)
        else { return nil }
        let known = host.isEmpty || host == "?" ? answeredBy?.host : host
        guard let known else { return nil }
        let id = parts.count > 2 ? parts[2].string : nil
        return Node(endpoint: RedisAddress.Endpoint(host: known, port: Int(port)), id: id)
    }

    private static func joined(_ ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        var joined: [ClosedRange<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = joined.last, last.upperBound + 1 == range.lowerBound {
                joined[joined.count - 1] = last.lowerBound...range.upperBound
            } else {
                joined.append(range)
            }
        }
        return joined
    }
}
