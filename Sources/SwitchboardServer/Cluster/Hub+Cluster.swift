import NIOCore

extension Hub {
    /// Connects a clustered node to Redis: from now on each message Redis brings goes to its
    /// channel's owner shard, which checks its number and fans it out. Nothing to do unclustered.
    func joinCluster() {
        cluster?.start { [unowned self] channel, delivery in
            owner(of: channel).send(.clustered(channel, delivery, receivedAt: NIODeadline.now().uptimeNanoseconds))
        }
    }

    /// Closes the Redis connections (after the drain).
    func leaveCluster() async {
        await cluster?.stop()
    }
}
