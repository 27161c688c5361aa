/// Message and byte totals of one shard: plain counters owned by its loop, summed by the hub's
/// statistics.
struct Traffic: Sendable {
    var connects = 0
    var disconnects = 0
    var messagesIn = 0
    var bytesIn = 0
    var messagesOut = 0
    var bytesOut = 0
    var published = 0
    var deliveries = 0
    var slowConsumerCloses = 0
    /// Clustered: gaps in a channel's `seq` this node noticed (filled from history or not).
    var gaps = 0
    /// Clustered: messages published that never reached this node (gaps in `seq`).
    var messagesLost = 0
    /// Clustered: times a channel's numbering began again (the cluster lost its data).
    var numberingRestarts = 0
    /// Subscriptions with `since` that got every missed message.
    var recovered = 0
    /// Subscriptions with `since` that could not be recovered (epoch changed, messages gone).
    var notRecovered = 0
    /// Kept messages the history byte cap evicted.
    var historyEvictions = 0
    /// Clustered: missed messages delivered late from history instead of reported lost.
    var gapsFilled = 0
}
