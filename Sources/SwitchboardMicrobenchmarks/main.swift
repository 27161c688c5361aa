// Microbenchmarks of the hub's hot pieces, with google/swift-benchmark:
//
//   swift run -c release SwitchboardMicrobenchmarks            # all
//   swift run -c release SwitchboardMicrobenchmarks --filter frame
//
// Each benchmark is one operation the hub performs per message or per delivery; BENCHMARKS.md
// records the figures. Compare runs of the same build on the same machine only.
import Benchmark
import NIOCore
import SwitchboardCore

let allocator = ByteBufferAllocator()
let data64 = ByteBuffer(string: #"{"text":"héllo","n":[1,2.5e3,null],"pad":"xxxxxxxxxxxxxxxxxxx"}"#)
let publish64 = Array(#"{"type":"publish","channel":"room:1","data":{"text":"hello","n":[1,2.5,null]},"id":42}"#.utf8)
let maskedFrame: ByteBuffer = {
    var buffer = allocator.buffer(capacity: 128)
    publish64.withUnsafeBytes { WireFrame.writeMasked(.text, payload: $0, maskKey: 0x1234_5678, into: &buffer) }
    return buffer
}()
let json1K = Array(String(repeating: #"{"k":"vålue","n":12345}"#, count: 43).utf8)
let parser = FrameParser(maxPayload: 64 * 1024)
let gauge = MailboxGauge(kind: "session", name: "bench", capacity: 1024)

/// Keeps a result alive so the optimizer cannot drop the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

benchmark("encode message frame (64 B data), once per publish") {
    blackHole(ServerMessage.message(channel: "room:1", data: data64, from: "c42", seq: 7, allocator: allocator))
}

benchmark("decode publish request (JSON scan), once per publish") {
    blackHole(publish64.withUnsafeBytes { ClientRequest.decode($0) })
}

benchmark("parse masked client frame header, once per frame") {
    var buffer = maskedFrame
    blackHole(try! parser.next(from: &buffer))
}

benchmark("validate 1 KB of UTF-8 text, once per text message") {
    blackHole(json1K.withUnsafeBytes(UTF8Validation.isValid))
}

benchmark("publish mailbox figures, once per client per tick") {
    gauge.publish(MailboxCounts(depth: 3, peak: 9, enqueued: 100, dequeued: 97))
}

Benchmark.main()
