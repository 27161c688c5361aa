import NIOCore
import Testing

@testable import SwitchboardServer

@Suite("FrameCoalescer and TickBatch")
struct FrameCoalescerTests {
    let allocator = ByteBufferAllocator()

    func frame(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Where a buffer's readable bytes live, to tell a shared slice from a copy.
    func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) }
    }

    func text(_ buffer: ByteBuffer?) -> String? { buffer.map { String(buffer: $0) } }

    @Test("one frame in a tick is held back and handed over as it is, uncopied")
    func singleFrame() {
        var coalescer = FrameCoalescer()
        let only = frame("only")
        let ready = coalescer.add(only)
        #expect(ready.0 == nil && ready.1 == nil)
        let taken = coalescer.take()
        #expect(text(taken) == "only")
        #expect(address(taken!) == address(only))
        #expect(coalescer.take() == nil)
    }

    @Test("small frames are joined into one buffer in the order they came")
    func smallFramesJoin() {
        var coalescer = FrameCoalescer()
        for part in ["a", "bb", "ccc"] {
            let ready = coalescer.add(frame(part))
            #expect(ready.0 == nil && ready.1 == nil)
        }
        #expect(text(coalescer.take()) == "abbccc")
    }

    @Test("a large frame is written after what was held back, never before")
    func largeFrameKeepsOrder() {
        var coalescer = FrameCoalescer()
        _ = coalescer.add(frame("a"))
        _ = coalescer.add(frame("b"))
        let large = String(repeating: "L", count: FrameCoalescer.frameLimit + 1)
        let ready = coalescer.add(frame(large))
        #expect(text(ready.0) == "ab")
        #expect(text(ready.1) == large)
        #expect(coalescer.take() == nil)
    }

    @Test("held-back bytes are handed over once they reach the limit, nothing lost or reordered")
    func bytesLimit() {
        var coalescer = FrameCoalescer()
        var written = ""
        var expected = ""
        for n in 0..<200 {
            let part = String(repeating: Character(UnicodeScalar(UInt8(65 + n % 26))), count: 200)
            expected += part
            let ready = coalescer.add(frame(part))
            if let first = ready.0 {
                #expect(first.readableBytes >= FrameCoalescer.bytesLimit)
                written += String(buffer: first)
            }
            #expect(ready.1 == nil)
        }
        written += text(coalescer.take()) ?? ""
        #expect(written == expected)
    }

    @Test("consecutive frames of a batch become one slice of its shared bytes once it is sealed")
    func runIsASliceOfTheSealedBatch() {
        let batch = TickBatch(allocator: allocator)
        let frames = ["one", "two", "three"].map(frame)
        let ranges = frames.map(batch.append)
        var coalescer = FrameCoalescer()
        for (frame, range) in zip(frames, ranges) {
            let ready = coalescer.add(frame, at: range, of: batch)
            #expect(ready.0 == nil && ready.1 == nil)
        }
        batch.seal()
        let taken = coalescer.take()
        #expect(text(taken) == "onetwothree")
        #expect(address(taken!) == address(batch.frames(in: ranges[0].lowerBound..<ranges[2].upperBound, allocator: allocator)))
    }

    @Test("a run taken before the batch is sealed is a copy, and the batch still grows")
    func runBeforeSealIsACopy() {
        let batch = TickBatch(allocator: allocator)
        let first = batch.append(frame("first"))
        var coalescer = FrameCoalescer()
        _ = coalescer.add(frame("first"), at: first, of: batch)
        let taken = coalescer.take()
        let second = batch.append(frame("second"))
        batch.seal()
        #expect(text(taken) == "first")
        #expect(address(taken!) != address(batch.frames(in: first, allocator: allocator)))
        #expect(text(batch.frames(in: first.lowerBound..<second.upperBound, allocator: allocator)) == "firstsecond")
    }

    @Test("a run interrupted by another frame is copied, so the order stays the order of the frames")
    func interruptedRun() {
        let batch = TickBatch(allocator: allocator)
        let m1 = frame("m1")
        let m2 = frame("m2")
        let r1 = batch.append(m1)
        let r2 = batch.append(m2)
        var coalescer = FrameCoalescer()
        _ = coalescer.add(m1, at: r1, of: batch)
        _ = coalescer.add(frame("reply"))
        _ = coalescer.add(m2, at: r2, of: batch)
        batch.seal()
        #expect(text(coalescer.take()) == "m1replym2")
    }

    @Test("when a channel's batch fills up, the finished run goes out and a new one starts")
    func nextBatch() {
        let full = TickBatch(allocator: allocator)
        let big = frame(String(repeating: "x", count: TickBatch.capacity - 10))
        let bigRange = full.append(big)
        #expect(!full.hasRoom(for: frame(String(repeating: "y", count: 11))))
        #expect(full.hasRoom(for: frame("y")))
        var coalescer = FrameCoalescer()
        _ = coalescer.add(big, at: bigRange, of: full)
        full.seal()
        #expect(!full.hasRoom(for: frame("y")))
        let next = TickBatch(allocator: allocator)
        let y = frame("y")
        let ready = coalescer.add(y, at: next.append(y), of: next)
        #expect(ready.0?.readableBytes == big.readableBytes)
        #expect(ready.1 == nil)
        next.seal()
        #expect(text(coalescer.take()) == "y")
    }

    @Test("discard forgets what was held back")
    func discard() {
        var coalescer = FrameCoalescer()
        _ = coalescer.add(frame("a"))
        _ = coalescer.add(frame("b"))
        coalescer.discard()
        #expect(coalescer.take() == nil)
    }
}
