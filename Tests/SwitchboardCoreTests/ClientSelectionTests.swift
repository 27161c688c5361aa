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

    /// The window a full sort gives: what ``ClientQuery/select(_:by:)`` must equal.
    private func sortedWindow(_ query: ClientQuery, _ rows: [ClientRow]) -> [ClientRow] {
        let sorted = rows.sorted { query.orders($0, before: $1) }
        let start = min(query.offset, sorted.count)
        return Array(sorted[start..<min(sorted.count, start + query.limit)])
    }

    @Test(arguments: ClientQuery.SortKey.allCases)
    func everyWindowIsTheSliceOfAFullSort(sort: ClientQuery.SortKey) {
        let rows = rows
        for descending in [false, true] {
            for offset in [0, 1, 40, 480, 500, 520, 950, 957, 990, 996, 997, 2000] {
                for limit in [0, 1, 40, 2000] {
                    let query = ClientQuery(sort: sort, descending: descending, offset: offset, limit: limit)
                    #expect(query.select(rows, by: \.sortFields) == sortedWindow(query, rows), "\(query)")
                }
            }
        }
    }

    /// Orders by numbers compare 24-byte keys instead of rows: the same window, client for client.
    @Test(arguments: ClientQuery.SortKey.allCases.filter { $0 != .remote })
    func orderKeysGiveTheSameWindowAsTheRows(sort: ClientQuery.SortKey) {
        let rows = rows
        let numbers = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, UInt64($0.id.dropFirst())!) })
        for descending in [false, true] {
            for offset in [0, 1, 480, 520, 957, 996, 2000] {
                for limit in [0, 1, 40, 2000] {
                    let query = ClientQuery(sort: sort, descending: descending, offset: offset, limit: limit)
                    #expect(query.ordersByNumbers)
                    let keys = rows.map { row in
                        query.orderKey(value: sort.value(of: row.sortFields, number: numbers[row.id]!), number: numbers[row.id]!, owner: 0)
                    }
                    let expected = query.select(rows, by: \.sortFields).map { numbers[$0.id]! }
                    #expect(SortedClientOrder(sorting: keys).window(query).map(\.number) == expected, "\(query)")
                }
            }
        }
    }

    @Test func orderKeysRankNegativeZeroAndLargeNumbersInNumericOrder() {
        let query = ClientQuery(sort: .rate)
        let values: [Double] = [-1e300, -2.5, -0.0, 0, 1e-9, 3, 1e15, .infinity]
        let keys = values.enumerated().map { query.orderKey(value: $1, number: UInt64($0), owner: 0) }
        #expect(keys.sorted().map(\.number) == Array(0..<UInt64(values.count)))
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

    @Test func anEmptyListHasAnEmptyWindow() {
        #expect(ClientQuery(offset: 5, limit: 10).select([ClientRow](), by: \.sortFields).isEmpty)
    }

    /// A node asked for its part of a deep cluster-wide window gets the whole part: the query
    /// crosses Redis as JSON, and a cap there would silently leave rows out past 10 000.
    @Test func aNodesPartOfADeepWindowCrossesTheWireWhole() throws {
        let perNode = ClientQuery(sort: .messagesIn, offset: 50_000, limit: 40).perNode
        let decoded = try JSONDecoder().decode(ClientQuery.self, from: JSONEncoder().encode(perNode))
        #expect(decoded == perNode && decoded.limit == 50_040)
    }
}
