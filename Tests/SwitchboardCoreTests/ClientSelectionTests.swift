import Foundation
import SwitchboardCore
import Testing

/// The client window is selected without sorting every client: it must be exactly the slice a
/// full sort would give, at any offset, for every sort key and direction.
@Suite struct ClientSelectionTests {
    private func row(_ number: Int, messages: Int, connectedAt: Double) -> ClientRow {
        ClientRow(
            id: "c\(number)", remoteAddress: "127.0.0.\(number % 7):\(40000 + number % 13)", userAgent: "", connectedAt: connectedAt,
            lastActivity: connectedAt + Double(number % 5), channels: Array(repeating: "room", count: number % 4), messagesIn: messages,
            messagesOut: messages % 11, bytesIn: 0, bytesOut: 0, rate: Double(messages % 3), mailbox: MailboxCounts(), mailboxCapacity: 1)
    }

    private var rows: [ClientRow] {
        var generator = SeededGenerator(seed: 7)
        return (1...997).map { row($0, messages: Int(generator.next() % 50), connectedAt: Double(generator.next() % 100)) }.shuffled(
            using: &generator)
    }

    /// The servers find windows by 24-byte order keys instead of rows: every window must be the
    /// slice the table's stated order (``ClientQuery/orders(_:before:)``) gives, client for
    /// client, for every sort and direction.
    @Test(arguments: ClientQuery.SortKey.allCases)
    func orderKeysGiveTheSameWindowAsTheRows(sort: ClientQuery.SortKey) {
        let rows = rows.map { (fields: $0.sortFields, row: $0) }
        let numbers = Dictionary(uniqueKeysWithValues: rows.map { ($0.row.id, UInt64($0.row.id.dropFirst())!) })
        for descending in [false, true] {
            let query = ClientQuery(sort: sort, descending: descending)
            let sorted = rows.sorted { query.orders($0.fields, before: $1.fields) }.map { numbers[$0.row.id]! }
            let keys = rows.map { row in
                let number = numbers[row.row.id]!
                return query.orderKey(rank: sort.rank(of: row.fields, number: number), number: number, owner: 0)
            }
            let order = SortedClientOrder(sorting: keys)
            for offset in [0, 1, 40, 480, 500, 520, 950, 957, 990, 996, 997, 2000] {
                for limit in [0, 1, 40, 2000] {
                    let windowed = ClientQuery(sort: sort, descending: descending, offset: offset, limit: limit)
                    let start = min(offset, sorted.count)
                    let expected = Array(sorted[start..<min(sorted.count, start + limit)])
                    #expect(order.window(windowed).map(\.number) == expected, "\(windowed)")
                }
            }
            let window = ClientQuery(sort: sort, descending: descending, offset: 480, limit: 40).window(rows.map(\.row))
            #expect(window.rows.map { numbers[$0.id]! } == Array(sorted[480..<520]))
        }
    }

    /// An order carried forward by the clients that moved is the order a new sort of everyone
    /// would give, whatever moved where (ties, the ends, everyone, nobody).
    @Test func anOrderCarriedForwardIsTheOrderOfANewSort() {
        var generator = SeededGenerator(seed: 11)
        for round in 0..<200 {
            let count = Int(generator.next() % 300)
            var ranks = Dictionary(uniqueKeysWithValues: (0..<UInt64(count)).map { ($0, generator.next() % 20) })
            func keys(_ ranks: [UInt64: UInt64]) -> [ClientOrderKey] {
                ranks.map { ClientOrderKey(rank: $0.value, number: $0.key, owner: Int($0.key % 3)) }
            }
            let before = SortedClientOrder(sorting: keys(ranks))
            let movers = round % 10 == 0 ? count : Int(generator.next() % UInt64(max(1, count / 4) + 1))
            var moved: [UInt64: UInt64] = [:]
            for _ in 0..<movers where count > 0 { moved[generator.next() % UInt64(count)] = generator.next() % 20 }
            ranks.merge(moved) { $1 }
            #expect(before.moving(keys(moved)).keys == SortedClientOrder(sorting: keys(ranks)).keys, "round \(round)")
        }
    }

    @Test func orderKeysRankNegativeZeroAndLargeNumbersInNumericOrder() {
        let query = ClientQuery(sort: .rate)
        let values: [Double] = [-1e300, -2.5, -0.0, 0, 1e-9, 3, 1e15, .infinity]
        let keys = values.enumerated().map { query.orderKey(rank: ClientQuery.SortKey.rank(of: $1), number: UInt64($0), owner: 0) }
        #expect(keys.sorted().map(\.number) == Array(0..<UInt64(values.count)))
    }

    /// Addresses sort as addresses, not as text: 10.0.0.2 before 10.0.0.10, IPv4 before IPv6,
    /// what is neither last.
    @Test func remoteAddressesRankAsAddresses() {
        let inOrder = [
            "1.2.3.4:5", "10.0.0.2:80", "10.0.0.10:80", "10.0.0.10:81", "[::ffff:10.0.0.11]:1", "255.255.255.255:65535", "[::]:1",
            "[::1]:5", "[::1]:6", "[2001:db8::1]:1", "[2001:db9::]:0", "[fe80::1%eth0]:2", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:9",
        ]
        let ranks = inOrder.map(RemoteAddressRank.of)
        #expect(ranks == ranks.sorted() && Set(ranks).count == ranks.count, "\(zip(inOrder, ranks).map { "\($0) \($1)" })")
        #expect(RemoteAddressRank.of("1.2.3.4:5") == 0x0102_0304_0005)
        #expect(RemoteAddressRank.of("[::ffff:1.2.3.4]:5") == RemoteAddressRank.of("1.2.3.4:5"))
        #expect(RemoteAddressRank.of("[::1]:5") < RemoteAddressRank.unknown)
        for bad in ["unix", "unknown", "", "1.2.3.4", "1.2.3.4:65536", "1.2.3:4", "1.2.3.256:1", "[1:2:3:4:5:6:7:8:9]:1", "[1::2::3]:1", "[::g]:1"] {
            #expect(RemoteAddressRank.of(bad) == RemoteAddressRank.unknown, "\(bad)")
        }
    }

    @Test func theWindowCountsEveryMatchingClientButHoldsOnlyItsRows() {
        let window = ClientQuery(filter: "c9", offset: 2, limit: 5).window(rows)
        #expect(window.total == rows.filter { $0.id.contains("c9") }.count)
        #expect(window.rows.map(\.id) == ["c91", "c92", "c93", "c94", "c95"])
        #expect(window.offset == 2)
    }

    @Test func aFilterMatchesWithoutCaseInEveryField() {
        var row = row(42, messages: 0, connectedAt: 0)
        row.userAgent = "Mozilla/5.0 Café"
        row.user = "Ada"
        row.channels = []
        for (filter, matches) in [
            ("C42", true), ("mozILLA/5", true), ("café", true), ("CAFÉ", true), ("aDa", true), ("ROOM", false), ("c421", false),
            ("127.0.0.0:40003", true), ("", true),
        ] {
            #expect(ClientQuery(filter: filter).matches(row) == matches, "\(filter)")
        }
        row.channels = ["Lobby"]
        #expect(ClientQuery(filter: "lobby").matches(row))
    }

    @Test func anIDQueryMatchesThatClientOnly() {
        let window = ClientQuery(id: "c12", limit: 1).window(rows)
        #expect(window.total == 1 && window.rows.map(\.id) == ["c12"])
    }
}
