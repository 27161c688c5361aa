import ConsoleModel
import SwitchboardCore
import Testing

/// The replay's cursor, its `--at` times, its keys and its header: values, no recording needed.
@Suite struct ReplayTests {
    /// Beats every half second for two minutes, from 03:00:00 UTC on 2026-12-07.
    static let start = 1_796_612_400.0
    static let times = (0..<240).map { start + Double($0) / 2 }

    @Test func playingMovesOnInRealTimeAndStopsAtTheEnd() {
        var cursor = ReplayCursor(times: Self.times)
        #expect(cursor.playing && cursor.beat == 0)
        cursor.advance(by: 1.2)
        #expect(cursor.beat == 2)
        cursor.advance(by: 1000)
        #expect(cursor.beat == 239 && !cursor.playing)
        // Play at the end starts again from the start.
        cursor.perform(.togglePlay)
        #expect(cursor.playing && cursor.beat == 0)
        cursor.perform(.togglePlay)
        cursor.advance(by: 5)
        #expect(!cursor.playing && cursor.beat == 0)
    }

    @Test func stepsJumpsStartAndEnd() {
        var cursor = ReplayCursor(times: Self.times, at: Self.start + 10)
        #expect(cursor.beat == 20)
        cursor.perform(.step(1))
        #expect(cursor.beat == 21 && !cursor.playing)  // a step pauses
        cursor.perform(.step(-5))
        #expect(cursor.beat == 16)
        cursor.perform(.step(-100))
        #expect(cursor.beat == 0)
        cursor.perform(.jump(seconds: 60))
        #expect(cursor.beat == 120)
        cursor.perform(.jump(seconds: 600))
        #expect(cursor.beat == 239)
        cursor.perform(.jump(seconds: -60))
        #expect(cursor.beat == 119)
        cursor.perform(.start)
        #expect(cursor.beat == 0 && cursor.position == Self.start)
        cursor.perform(.end)
        #expect(cursor.beat == 239 && !cursor.playing)
        // Between beats, the one on screen is the last one before.
        #expect(ReplayCursor(times: [1, 2, 4], at: 3.9).beat == 1)
        #expect(ReplayCursor(times: []).beat == nil)
    }

    @Test func timesOfDayISOTimesAndOffsets() throws {
        #expect(try ReplayTime.parse("03:01:05", start: Self.start) == Self.start + 65)
        #expect(try ReplayTime.parse("03:01", start: Self.start) == Self.start + 60)
        #expect(try ReplayTime.parse("2026-12-07T03:00:30Z", start: Self.start) == Self.start + 30)
        #expect(try ReplayTime.parse("2026-12-07T03:00:30.5Z", start: Self.start) == Self.start + 30.5)
        #expect(try ReplayTime.parse("+90s", start: Self.start) == Self.start + 90)
        #expect(try ReplayTime.parse("+2m", start: Self.start) == Self.start + 120)
        #expect(try ReplayTime.parse("+1h30m", start: Self.start) == Self.start + 5400)
        #expect(try ReplayTime.parse("+45", start: Self.start) == Self.start + 45)
        // Earlier in the day than the start: the recording ran past midnight.
        #expect(try ReplayTime.parse("02:00:00", start: Self.start) == Self.start + 23 * 3600)
        for bad in ["", "+", "+2x", "25:00:00", "03:61", "yesterday", "2026-12-07T99:00:00Z", "+1..5s"] {
            #expect(throws: ReplayTime.Invalid.self, "\(bad)") { try ReplayTime.parse(bad, start: Self.start) }
        }
    }

    func replayState() -> ViewState {
        var state = ViewState()
        state.replay = ReplayCursor(times: Self.times).status
        return state
    }

    @Test func replayKeysWinAndOperatorActionsAreRefused() {
        var state = replayState()
        let snapshot = makeSnapshot(clients: 30)
        #expect(handle(.character(" "), state: &state, snapshot: snapshot) == .replay(.togglePlay))
        #expect(handle(.character("p"), state: &state, snapshot: snapshot) == .replay(.togglePlay))
        #expect(handle(.right, state: &state, snapshot: snapshot) == .replay(.step(1)))
        #expect(handle(.left, state: &state, snapshot: snapshot) == .replay(.step(-1)))
        #expect(handle(.character("]"), state: &state, snapshot: snapshot) == .replay(.jump(seconds: 60)))
        #expect(handle(.character("["), state: &state, snapshot: snapshot) == .replay(.jump(seconds: -60)))
        #expect(handle(.character("g"), state: &state, snapshot: snapshot) == .replay(.start))
        #expect(handle(.character("G"), state: &state, snapshot: snapshot) == .replay(.end))
        for key in [Key.character("K"), .character("b")] {
            state.status = ""
            #expect(handle(key, state: &state, snapshot: snapshot) == .none)
            #expect(state.status == replayRefusal && state.overlay == nil)
        }
        // A `:` command that would act on the hub is refused too.
        _ = handle(.character(":"), state: &state, snapshot: snapshot)
        for character in "kick c1" { _ = handle(.character(character), state: &state, snapshot: snapshot) }
        #expect(handle(.enter, state: &state, snapshot: snapshot) == .none)
        #expect(state.status == replayRefusal)
        // Panes, sorting and details work as live.
        _ = handle(.character("s"), state: &state, snapshot: snapshot)
        #expect(state.sort != .id)
        _ = handle(.enter, state: &state, snapshot: snapshot)
        guard case .detail = state.overlay else {
            Issue.record("Enter opens the details in a replay")
            return
        }
        #expect(handle(.character("K"), state: &state, snapshot: snapshot) == .none)
        #expect(state.status == replayRefusal)
        // Live, the same keys keep their meanings.
        var live = ViewState()
        #expect(handle(.character("g"), state: &live, snapshot: snapshot) == .none)
        #expect(handle(.right, state: &live, snapshot: snapshot) == .none)
        #expect(live.focus != .clients)
    }

    @Test func theHeaderSaysReplayAndTheRecordingsTime() {
        var state = replayState()
        state.now = Self.start
        let grid = renderDashboard(makeSnapshot(), state, rows: 40, cols: 120)
        #expect(grid.line(0).contains("replay 03:00:00 playing +0s beat 1/"))
        // The beat stays when the figures leave no room for the lesser segments.
        #expect(renderDashboard(makeSnapshot(), state, rows: 40, cols: 80).line(0).contains("beat 1/"))
        #expect(grid.line(39).contains("Space"))
        #expect(!renderDashboard(makeSnapshot(), ViewState(), rows: 40, cols: 120).line(0).contains("replay"))
    }
}
