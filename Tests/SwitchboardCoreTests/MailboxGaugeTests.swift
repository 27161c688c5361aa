import Foundation
import Testing

@testable import SwitchboardCore

@Suite("MailboxGauge")
struct MailboxGaugeTests {
    @Test("a new gauge reads all zeros and keeps its identity")
    func initialState() {
        let gauge = MailboxGauge(kind: .session, name: "c-1", capacity: 256)
        #expect(gauge.kind == .session)
        #expect(gauge.name == "c-1")
        #expect(gauge.capacity == 256)
        #expect(gauge.read() == MailboxCounts())
    }

    @Test("read returns what was last published")
    func publishThenRead() {
        let gauge = MailboxGauge(kind: .hubShard, name: "shard-0", capacity: 1024)
        let first = MailboxCounts(depth: 3, peak: 9, enqueued: 100, dequeued: 97, dropped: 2, queuedBytes: 4096)
        gauge.publish(first)
        #expect(gauge.read() == first)
        let second = MailboxCounts(depth: 0, peak: 9, enqueued: 150, dequeued: 150, dropped: 2, queuedBytes: 0)
        gauge.publish(second)
        #expect(gauge.read() == second)
    }

    @Test("each field round-trips independently")
    func fieldsAreIndependent() {
        let gauge = MailboxGauge(kind: .metrics, name: "n", capacity: 1)
        let fields: [WritableKeyPath<MailboxCounts, Int>] = [\.depth, \.peak, \.enqueued, \.dequeued, \.dropped, \.queuedBytes]
        for (index, field) in fields.enumerated() {
            var counts = MailboxCounts()
            counts[keyPath: field] = 1000 + index
            gauge.publish(counts)
            let read = gauge.read()
            #expect(read == counts)
            #expect(read[keyPath: field] == 1000 + index)
        }
    }

    @Test("a gauge can be read from other tasks")
    func readFromOtherTasks() async {
        let gauge = MailboxGauge(kind: .session, name: "c-2", capacity: 8)
        let counts = MailboxCounts(depth: 1, peak: 2, enqueued: 3, dequeued: 2, dropped: 0, queuedBytes: 64)
        gauge.publish(counts)
        let reads = await withTaskGroup(of: MailboxCounts.self) { group in
            for _ in 0..<8 { group.addTask { gauge.read() } }
            var all: [MailboxCounts] = []
            for await read in group { all.append(read) }
            return all
        }
        #expect(reads.count == 8)
        #expect(reads.allSatisfy { $0 == counts })
    }

    @Test("counts default to zero and encode with their field names")
    func countsCodable() throws {
        #expect(MailboxCounts() == MailboxCounts(depth: 0, peak: 0, enqueued: 0, dequeued: 0, dropped: 0, queuedBytes: 0))
        let counts = MailboxCounts(depth: 1, peak: 2, enqueued: 3, dequeued: 4, dropped: 5, queuedBytes: 6)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(counts), as: UTF8.self)
        #expect(json == #"{"depth":1,"dequeued":4,"dropped":5,"enqueued":3,"peak":2,"queuedBytes":6}"#)
        #expect(try JSONDecoder().decode(MailboxCounts.self, from: Data(json.utf8)) == counts)
    }
}
