import Foundation
import SwitchboardCore
import Testing

/// A cluster-wide window found from the nodes' outlines and ranges must be exactly the slice of
/// every node's keys merged and sorted, while no node sends more than a few hundred keys.
@Suite struct ClusterClientWindowTests {
    /// Keys of several nodes with many equal ranks (ties across nodes break by node name) and
    /// client numbers that repeat from node to node.
    private func cluster(sizes: [Int], seed: UInt64) -> [String: [ClientOrderKey]] {
        var generator = SeededGenerator(seed: seed)
        var nodes: [String: [ClientOrderKey]] = [:]
        for (index, size) in sizes.enumerated() {
            nodes["node-\(index)"] = (0..<size).map { number in
                ClientOrderKey(rank: generator.next() % 40, number: UInt64(number + 1), owner: Int(generator.next() % 2))
            }.shuffled(using: &generator)
        }
        return nodes
    }

    /// What the steps give: outlines, the range, each node's part of it, the window.
    private func stepped(_ query: ClientQuery, _ nodes: [String: [ClientOrderKey]]) -> (
        window: [NodeOrderKey], ranges: [String: NodeRange], outlines: [String: NodeOutline]
    ) {
        let orders = nodes.mapValues(SortedClientOrder.init(sorting:))
        let outlines = orders.mapValues(NodeOutline.init(of:))
        let range = query.range(holdingWindowOf: outlines)
        let ranges = nodes.reduce(into: [String: NodeRange]()) { $0[$1.key] = NodeRange(of: orders[$1.key]!, in: range, node: $1.key) }
        return (query.window(of: ranges).map { NodeOrderKey($0.key, node: $0.node) }, ranges, outlines)
    }

    /// The window of every key merged and sorted.
    private func merged(_ query: ClientQuery, _ nodes: [String: [ClientOrderKey]]) -> [NodeOrderKey] {
        let all = nodes.flatMap { node, keys in keys.map { NodeOrderKey($0, node: node) } }.sorted()
        let start = min(query.offset, all.count)
        return Array(all[start..<min(all.count, start + query.limit)])
    }

    @Test(arguments: [[1_000, 1_000, 1_000], [3_000, 17, 0, 900], [1], [0, 0], [5, 2_000, 64, 64, 300, 1]])
    func everyWindowIsTheSliceOfEveryNodeMerged(sizes: [Int]) {
        let nodes = cluster(sizes: sizes, seed: UInt64(sizes.count))
        let total = sizes.reduce(0, +)
        let offsets = Set([0, 1, 39, 40, total / 3, total / 2, total - 41, total - 40, total - 1, total, total + 5].filter { $0 >= 0 })
        for offset in offsets.sorted() {
            for limit in [0, 1, 40, 500] {
                let query = ClientQuery(offset: offset, limit: limit)
                #expect(stepped(query, nodes).window == merged(query, nodes), "offset \(offset), limit \(limit)")
            }
        }
    }

    /// The point of the steps: for the last page of 100 000 clients on six nodes, each node
    /// sends a few hundred keys, not its ~17 000 rows.
    @Test func theLastPageOfAHundredThousandCostsEachNodeAFewHundredKeys() {
        let nodes = cluster(sizes: Array(repeating: 16_667, count: 6), seed: 11)
        for offset in [0, 50_000, 99_962] {
            let query = ClientQuery(offset: offset, limit: 40)
            let (window, ranges, outlines) = stepped(query, nodes)
            #expect(window == merged(query, nodes))
            #expect(window.count == min(40, 100_002 - offset))
            for node in nodes.keys {
                #expect(outlines[node]!.keys.count < 200)
                #expect(ranges[node]!.keys.count < 400, "\(node) at \(offset): \(ranges[node]!.keys.count) keys")
            }
        }
    }

    /// Steps and parts cross Redis as JSON: order keys keep all 64 bits of their rank.
    @Test func partsCrossTheWireWhole() throws {
        let key = ClientOrderKey(rank: .max, number: .max - 1, owner: 3)
        let parts: [ClientWindowPart] = [
            .outline(NodeOutline(total: 9, every: 2, keys: [key])), .range(NodeRange(before: 4, keys: [key, key])), .rows([nil]),
        ]
        for part in parts {
            #expect(try JSONDecoder().decode(ClientWindowPart.self, from: JSONEncoder().encode(part)) == part)
        }
        let step = ClientWindowStep.range(ClientQuery(sort: .rate), ClientKeyRange(from: NodeOrderKey(key, node: "a"), below: nil))
        #expect(try JSONDecoder().decode(ClientWindowStep.self, from: JSONEncoder().encode(step)) == step)
    }
}
