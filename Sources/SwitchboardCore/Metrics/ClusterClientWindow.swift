/// A cluster-wide client window, found without any node sending all of its clients.
///
/// Asking every node for its first `offset + limit` rows would make the last page of 100 000
/// clients on six nodes cost every node all of its ~17 000 rows. Instead the window is found
/// in three steps, each a few hundred order keys at most:
/// 1. every node tells how many of its clients match and a sample of its order (``NodeOutline``);
/// 2. the samples bound the range of keys that holds the window
///    (``ClientQuery/range(holdingWindowOf:)``), and every node tells how many of its clients
///    sort before that range and the keys of those in it (``NodeRange``);
/// 3. merged, those keys give the window exactly (``ClientQuery/window(of:)``), and only the
///    nodes holding its clients build rows, for them alone.
public enum ClientWindowStep: Codable, Sendable, Equatable {
    /// How many clients match `query` on the node, and a sample of their order.
    case outline(ClientQuery)
    /// How many of the node's clients sort before the range, and the keys of those in it.
    case range(ClientQuery, ClientKeyRange)
    /// The rows of these clients of the node (nil for one that has left).
    case rows([ClientOrderKey])
}

/// One node's answer to a ``ClientWindowStep``.
public enum ClientWindowPart: Codable, Sendable, Equatable {
    case outline(NodeOutline)
    case range(NodeRange)
    case rows([ClientRow?])
}

/// A client's place in the cluster-wide order: its node's key, ties between nodes broken by the
/// node's name (client numbers repeat from node to node).
public struct NodeOrderKey: Codable, Sendable, Hashable, Comparable {
    public var rank: UInt64
    public var number: UInt64
    public var node: String

    public init(_ key: ClientOrderKey, node: String) {
        rank = key.rank
        number = key.number
        self.node = node
    }

    public static func < (a: NodeOrderKey, b: NodeOrderKey) -> Bool {
        (a.rank, a.number) != (b.rank, b.number) ? (a.rank, a.number) < (b.rank, b.number) : a.node < b.node
    }
}

/// The keys from `from` (nil: the first) up to but not including `below` (nil: past the last).
public struct ClientKeyRange: Codable, Sendable, Equatable {
    public var from: NodeOrderKey?
    public var below: NodeOrderKey?

    public init(from: NodeOrderKey? = nil, below: NodeOrderKey? = nil) {
        self.from = from
        self.below = below
    }

    /// Whether `key` sorts before the range.
    public func precedes(_ key: NodeOrderKey) -> Bool { from.map { key < $0 } ?? false }

    /// Whether `key` sorts after the range.
    public func isPast(_ key: NodeOrderKey) -> Bool { below.map { !(key < $0) } ?? false }
}

/// How many of a node's clients match a query and every `every`-th of their order keys, in
/// order: the first, the `every`-th, and so on. About √(2n) keys of n, which keeps this and the
/// range that follows (about `limit` plus twice the samples' spacing per node) small together.
public struct NodeOutline: Codable, Sendable, Equatable {
    public var total: Int
    public var every: Int
    public var keys: [ClientOrderKey]

    /// The outline of a node's order.
    public init(of order: SortedClientOrder) {
        total = order.keys.count
        every = max(1, Int((Double(total) / 2).squareRoot()))
        keys = stride(from: 0, to: total, by: every).map { order.keys[$0] }
    }

    public init(total: Int, every: Int, keys: [ClientOrderKey]) {
        self.total = total
        self.every = every
        self.keys = keys
    }

    /// How many of the node's clients surely sort before a key that follows `samples` of its
    /// samples: those up to the last of them.
    func surelyBefore(passing samples: Int) -> Int { samples == 0 ? 0 : (samples - 1) * every + 1 }

    /// How many of the node's clients at most sort before a key that follows `samples` of its
    /// samples: those before the next sample (all, past the last).
    func atMostBefore(passing samples: Int) -> Int { samples < keys.count ? samples * every : total }
}

/// How many of a node's clients sort before a ``ClientKeyRange`` and, in order, the keys of
/// those in it.
public struct NodeRange: Codable, Sendable, Equatable {
    public var before: Int
    public var keys: [ClientOrderKey]

    /// The part of `node`'s order that `range` asks for: two binary searches and a slice.
    public init(of order: SortedClientOrder, in range: ClientKeyRange, node: String) {
        before = order.firstIndex { range.precedes(NodeOrderKey($0, node: node)) }
        let end = order.firstIndex { !range.isPast(NodeOrderKey($0, node: node)) }
        keys = Array(order.keys[before..<max(before, end)])
    }

    public init(before: Int, keys: [ClientOrderKey]) {
        self.before = before
        self.keys = keys
    }
}

extension ClientQuery {
    /// The narrowest range between sampled keys that surely holds this query's window of the
    /// nodes' clients, from their outlines (by node name).
    ///
    /// A node's count of clients before a key `k` is known within its samples' spacing: at
    /// least one past the last of its samples before `k`, at most the position of its first
    /// sample from `k` on. The range starts at the last sample that at most `offset` clients
    /// can precede, and ends at the first that at least `offset + limit` surely precede.
    public func range(holdingWindowOf outlines: [String: NodeOutline]) -> ClientKeyRange {
        let nodes = Array(outlines)
        var samples: [(key: NodeOrderKey, node: Int)] = []
        for (index, (name, outline)) in nodes.enumerated() {
            samples += outline.keys.map { (NodeOrderKey($0, node: name), index) }
        }
        samples.sort { $0.key < $1.key }
        let start = max(0, offset)
        let end = start + max(0, limit)
        var passed = [Int](repeating: 0, count: nodes.count)
        var surelyBefore = 0
        var atMostBefore = 0
        var range = ClientKeyRange()
        for (key, node) in samples {
            if atMostBefore <= start { range.from = key }
            if surelyBefore >= end {
                range.below = key
                break
            }
            let outline = nodes[node].value
            surelyBefore += outline.surelyBefore(passing: passed[node] + 1) - outline.surelyBefore(passing: passed[node])
            atMostBefore += outline.atMostBefore(passing: passed[node] + 1) - outline.atMostBefore(passing: passed[node])
            passed[node] += 1
        }
        return range
    }

    /// This query's window of the nodes' parts of one range (by node name): its keys in order,
    /// each with its node.
    public func window(of ranges: [String: NodeRange]) -> [(node: String, key: ClientOrderKey)] {
        let before = ranges.values.reduce(0) { $0 + $1.before }
        var merged: [(node: String, key: ClientOrderKey)] = ranges.flatMap { node, range in range.keys.map { (node, $0) } }
        merged.sort { NodeOrderKey($0.key, node: $0.node) < NodeOrderKey($1.key, node: $1.node) }
        let first = min(merged.count, max(0, offset - before))
        return Array(merged[first..<min(merged.count, first + max(0, limit))])
    }
}

extension ClientWindowPart {
    var outline: NodeOutline? { if case .outline(let outline) = self { outline } else { nil } }
    var range: NodeRange? { if case .range(let range) = self { range } else { nil } }
    var rows: [ClientRow?]? { if case .rows(let rows) = self { rows } else { nil } }
}

extension HubProbe {
    /// `query`'s window of the clients of every live node (this node's alone when it is on its
    /// own), in the steps of ``ClientWindowStep``; a node that did not answer a step in time is
    /// named in `missing` and its clients are left out.
    public func clusterClientWindow(_ query: ClientQuery) async -> ClientWindow {
        guard let node = nodeName else { return await clientWindow(query) }
        // The other nodes first: a node with none alive answers alone, with no step made for nothing.
        let asked = await otherNodesParts(.outline(query), of: nil)
        if asked.parts.isEmpty, asked.missing.isEmpty { return await clientWindow(query) }
        var outlines = asked.parts.compactMapValues(\.outline)
        outlines[node] = await clientWindowPart(.outline(query)).outline
        let range = query.range(holdingWindowOf: outlines)
        async let others = otherNodesParts(.range(query, range), of: outlines.keys.filter { $0 != node })
        let own = await clientWindowPart(.range(query, range))
        var ranged = await others
        ranged.parts[node] = own
        let ranges = ranged.parts.compactMapValues(\.range)
        let chosen = query.window(of: ranges)
        let held = Dictionary(grouping: chosen, by: \.node).mapValues { $0.map(\.key) }
        let built = await withTaskGroup(of: (String, [ClientRow?]?).self) { group in
            for (name, keys) in held {
                group.addTask {
                    let part = name == node ? await clientWindowPart(.rows(keys)) : await otherNodesParts(.rows(keys), of: [name]).parts[name]
                    return (name, part?.rows)
                }
            }
            return await group.reduce(into: [String: [ClientRow?]]()) { $0[$1.0] = $1.1 }
        }
        var next: [String: Int] = [:]
        var rows: [ClientRow] = []
        for (name, _) in chosen {
            let index = next[name, default: 0]
            next[name] = index + 1
            if let nodeRows = built[name] ?? nil, index < nodeRows.count, let row = nodeRows[index] { rows.append(row) }
        }
        let total = ranges.keys.reduce(0) { $0 + (outlines[$1]?.total ?? 0) }
        var window = ClientWindow(total: total, offset: min(max(0, query.offset), total), rows: rows)
        let unbuilt = held.keys.filter { (built[$0] ?? nil) == nil }
        let missing = Set(asked.missing + ranged.missing + unbuilt)
        if !missing.isEmpty {
            window.partial = true
            window.missing = missing.sorted()
        }
        return window
    }
}
