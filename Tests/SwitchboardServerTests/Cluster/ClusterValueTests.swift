import NIOCore
import RedisClient
import SwitchboardCore
import Testing

@testable import SwitchboardServer

/// The cluster's values without Redis: the envelope a publication travels in, and what a node
/// concludes from a channel's next `seq`.
@Suite struct ClusterValueTests {
    private func payload(seq: UInt64, _ envelope: ByteBuffer?) -> ByteBuffer {
        var buffer = ByteBuffer(string: "\(seq)\n")
        if var envelope { buffer.writeBuffer(&envelope) }
        return buffer
    }

    @Test func aMessageTravelsWithEveryField() throws {
        let publication = Publication(
            channel: "77:private-room", kind: .message(event: "client-wave", user: "ann"), data: ByteBuffer(string: "{\"hi\":\"ünï\"}"),
            from: "123.456", except: "123.456")
        guard case .message(let seq, let decoded)? = ClusterEnvelope.decode(payload(seq: 42, ClusterEnvelope.encode(publication))) else {
            Issue.record("not decoded")
            return
        }
        #expect(seq == 42)
        #expect(decoded.channel == "77:private-room" && decoded.from == "123.456" && decoded.except == "123.456")
        #expect(String(buffer: decoded.data) == "{\"hi\":\"ünï\"}")
        guard case .message(let event, let user) = decoded.kind else {
            Issue.record("kind")
            return
        }
        #expect(event == "client-wave" && user == "ann")
    }

    @Test func absentFieldsStayAbsent() throws {
        let publication = Publication(channel: "news", kind: .message(event: nil, user: nil), data: ByteBuffer(string: "1"), from: "api")
        guard case .message(_, let decoded)? = ClusterEnvelope.decode(payload(seq: 1, ClusterEnvelope.encode(publication))),
            case .message(let event, let user) = decoded.kind
        else {
            Issue.record("not decoded")
            return
        }
        #expect(event == nil && user == nil && decoded.except == nil)
    }

    @Test func aPayloadWithNothingAfterTheNumberIsASyncMarker() {
        guard case .marker(let seq)? = ClusterEnvelope.decode(ByteBuffer(string: "17\n")) else {
            Issue.record("not a marker")
            return
        }
        #expect(seq == 17)
    }

    @Test("bytes no node wrote are ignored", arguments: ["", "x\n", "12", "3\n\u{2}\u{0}", "3\n\u{1}\u{0}\u{0}\u{0}\u{0}\u{9}ab"])
    func foreignBytesAreIgnored(_ text: String) {
        #expect(ClusterEnvelope.decode(ByteBuffer(string: text)) == nil)
    }

    @Test func presenceChangesDoNotTravelAsMessages() {
        let joined = Publication(channel: "room", kind: .joined(.init(userID: "ann", info: nil)), data: ByteBuffer(), from: "c1")
        #expect(ClusterEnvelope.encode(joined) == nil)
    }

    @Test func sequenceVerdicts() {
        #expect(ChannelSequence(last: nil, next: 9) == .inOrder)
        #expect(ChannelSequence(last: 4, next: 5) == .inOrder)
        #expect(ChannelSequence(last: 4, next: 8) == .missed(3))
        #expect(ChannelSequence(last: 4, next: 4) == .restarted)
        #expect(ChannelSequence(last: 4, next: 1) == .restarted)
        #expect(ChannelSequence.inOrder.lossNotice == nil)
        #expect(ChannelSequence.missed(1).lossNotice?.hasPrefix("1 message was") == true)
        #expect(ChannelSequence.missed(3).lossNotice?.hasPrefix("3 messages were") == true)
        #expect(ChannelSequence.restarted.lossNotice?.contains("restarted") == true)
        #expect(ChannelSequence.fenced.lossNotice?.contains("new epoch") == true)
    }

    @Test func pubSubNamesMapBackToChannels() {
        let keys = ClusterKeys(prefix: "switchboard", partitions: 64)
        for channel in ["77:news", "a", "presence-team", "x/y@z.-_"] {
            #expect(keys.channel(ofPubSubName: ByteBuffer(string: keys.pubSubName(channel))) == channel)
        }
        #expect(keys.channel(ofPubSubName: ByteBuffer(string: "other:{3}{news}")) == nil)
        #expect(keys.channel(ofPubSubName: ByteBuffer(string: "switchboard:{news}")) == nil)  // the layout before partitions
        #expect(keys.channel(ofPubSubName: ByteBuffer(string: keys.busName)) == nil)
    }

    /// A channel's keys, its pub/sub name and its partition's keys share one Redis Cluster slot;
    /// the registry's keys and the node bus share another.
    @Test func everythingOfAChannelIsOnItsPartitionsSlot() {
        let keys = ClusterKeys(prefix: "switchboard", partitions: 64)
        // CRC16("news") = 0x5429: slot 5161 (CLUSTER KEYSLOT news), partition 5161 % 64 = 41.
        #expect(keys.partition(of: "news") == 41)
        #expect(keys.pubSubName("news") == "switchboard:{41}{news}")
        let slot = RedisSlot.of(keys.pubSubName("news"))
        #expect(slot == RedisSlot.of("41"))
        for part in ["seq", "epoch", "history", "members", "idem:order-1"] {
            #expect(RedisSlot.of(keys.channelKey("news", part).readableBytesView) == slot)
        }
        for key in [keys.occupiedChannels(41), keys.node("node-a", "presence", in: 41), keys.webhooks(41)] {
            #expect(RedisSlot.of(key.readableBytesView) == slot)
        }
        let registry = RedisSlot.of(keys.busName)
        for key in [keys.registry("seen"), keys.users(of: "node-a")] { #expect(RedisSlot.of(key.readableBytesView) == registry) }
        #expect(RedisSlot.of(keys.directName("node-a")) == registry)
        // Channels spread over every partition.
        let spread = Set((0..<2000).map { keys.partition(of: "room-\($0)") })
        #expect(spread == Set(0..<64))
    }

    @Test(
        "node commands travel and come back whole",
        arguments: [
            NodeCommand.broadcast(data: Array("{\"a\":\n[1,2]}".utf8)), .kickClient(id: "c9@node-b", code: 4000, reason: "bye\nnow"),
            .kickAll(channel: "news", code: 4200, reason: ""), .kickAll(channel: nil, code: 4000, reason: "all"),
            .terminate(appID: "77", userID: "ann"), .kickUser(.init(user: "ann\nof arc", code: 4200, reason: "bye\nnow")),
            .clientWindow(.outline(ClientQuery(sort: .rate, descending: true, filter: "x\ny", offset: 5, limit: 9))),
            .clientWindow(
                .range(ClientQuery(sort: .age), ClientKeyRange(from: NodeOrderKey(ClientOrderKey(rank: .max, number: 7, owner: 1), node: "b")))),
            .nodeDeclaredDead("node-c"),
            .trace(.init(action: .start, node: "node-a", traces: ["t3"], kind: "user", value: "ann\nof arc")),
            .trace(.init(action: .renew, node: "node-a", traces: ["t3", "t4"])),
        ])
    func nodeCommandsRoundTrip(_ command: NodeCommand) {
        let request = NodeCommand.Request(id: 42, replyTo: "node-a", command: command)
        #expect(NodeCommand.decode(NodeCommand.encode(request)) == .request(request))
    }

    @Test func nodeRepliesRoundTrip() {
        for reply in [NodeCommand.Reply(id: 7, node: "node-b", count: 3), NodeCommand.Reply(id: 8, node: "node-c", count: nil)] {
            #expect(NodeCommand.decode(NodeCommand.encode(reply)) == .reply(reply))
        }
        #expect(NodeCommand.decode(ByteBuffer(string: "X\n1\nnode")) == nil)
        #expect(NodeCommand.decode(ByteBuffer(string: "C\n1\nnode-a\nlaunch\nrockets")) == nil)
    }

    @Test func sweptChangesAreRead() {
        #expect(NodeRegistry.change("N\0node-b") == .nodeDead("node-b"))
        #expect(NodeRegistry.change("L\077:presence-team\0ann") == .memberLeft(channel: "77:presence-team", user: "ann"))
        #expect(NodeRegistry.change("V\0news") == .vacated(channel: "news"))
        #expect(NodeRegistry.change("Q\0x") == nil)
    }

    @Test func clientIdsNameTheirNode() {
        #expect(Hub.node(ofClient: "c1@node-a") == "node-a")
        #expect(Hub.node(ofClient: "c1") == nil)
    }
}
