/// A move through a recording, asked for by a key in a replay.
public enum ReplayMove: Equatable, Sendable {
    /// Space: pause, or play on (from the start when at the end).
    case togglePlay
    /// `←` / `→`: that many beats (recorded snapshots) back or forward; pauses.
    case step(Int)
    /// `[` / `]`: that many seconds back or forward, playing on if it was.
    case jump(seconds: Double)
    /// `g`: the first beat.
    case start
    /// `G`: the last beat; pauses.
    case end
}

/// Where a replay is in its recording: a moment between the first and the last beat (the times
/// of the recorded snapshots, ascending), and whether it moves on by itself. A value: the replay
/// source advances it with the wall clock and applies the operator's moves.
public struct ReplayCursor: Equatable, Sendable {
    /// The time of each beat, seconds since 1970, ascending.
    public let times: [Double]
    /// The moment shown, seconds since 1970.
    public private(set) var position: Double
    /// Playing in real time (false: paused).
    public private(set) var playing: Bool

    public init(times: [Double], at position: Double? = nil, playing: Bool = true) {
        self.times = times
        let first = times.first ?? 0
        self.position = min(max(position ?? first, first), times.last ?? first)
        self.playing = playing && !times.isEmpty && self.position < times.last ?? first
    }

    /// The first beat's time.
    public var start: Double { times.first ?? 0 }
    /// The last beat's time.
    public var end: Double { times.last ?? 0 }

    /// The beat on screen: the last one at or before ``position`` (nil without beats).
    public var beat: Int? {
        guard !times.isEmpty else { return nil }
        var low = 0
        var high = times.count
        // Bisection for the first beat after position.
        while low < high {
            let middle = (low + high) / 2
            if times[middle] <= position { low = middle + 1 } else { high = middle }
        }
        return max(0, low - 1)
    }

    /// Moves on by `seconds` of wall-clock time when playing; stops at the last beat.
    public mutating func advance(by seconds: Double) {
        guard playing, seconds > 0 else { return }
        position = min(end, position + seconds)
        if position >= end { playing = false }
    }

    /// Applies an operator's move.
    public mutating func perform(_ move: ReplayMove) {
        switch move {
        case .togglePlay:
            if !playing && position >= end { position = start }
            playing = !playing && position < end
        case .step(let beats):
            guard let beat else { return }
            position = times[min(max(0, beat + beats), times.count - 1)]
            playing = false
        case .jump(let seconds):
            position = min(max(start, position + seconds), end)
            if position >= end { playing = false }
        case .start:
            position = start
        case .end:
            position = end
            playing = false
        }
    }

    /// What the header shows.
    public var status: ReplayStatus {
        ReplayStatus(time: position, playing: playing, beat: (beat ?? -1) + 1, beats: times.count, start: start)
    }
}

/// What a replay's header shows: the recording's time, playing or paused, which beat of how many.
public struct ReplayStatus: Equatable, Sendable {
    /// The moment on screen, seconds since 1970.
    public var time: Double
    public var playing: Bool
    /// The beat on screen, from 1.
    public var beat: Int
    public var beats: Int
    /// When the recording starts.
    public var start: Double

    public init(time: Double, playing: Bool, beat: Int, beats: Int, start: Double) {
        self.time = time
        self.playing = playing
        self.beat = beat
        self.beats = beats
        self.start = start
    }
}
