import LBStore

/// Tick marks for a time axis: a round step that gives a handful of ticks, aligned to the clock of
/// the zone the report is in (at the window's start: after a daylight-saving change the labels
/// read an hour off the round step, as the wall clock does).
struct TimeAxis: Sendable {
    /// A labelled instant on the axis.
    struct Tick: Equatable, Sendable {
        var at: Timestamp
        var label: String
    }

    var range: TimeRange
    var ticks: [Tick]
    var stepMilliseconds: Int64

    private static let steps: [Int64] = [
        1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
        60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
        3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
        86_400_000, 172_800_000, 604_800_000, 2_592_000_000,
    ]

    /// At most `maximumTicks` ticks, on multiples of the chosen step in `times`' zone.
    init(range: TimeRange, times: TimeDisplay, maximumTicks: Int = 10) {
        self.range = range
        let duration = max(1, range.durationMilliseconds)
        let step = Self.steps.first { duration / $0 <= Int64(maximumTicks) } ?? Self.steps.last!
        stepMilliseconds = step
        var ticks: [Tick] = []
        let offset = Int64(times.offsetSeconds(at: range.start)) * 1_000
        let first = (range.start.milliseconds + offset + step - 1) / step * step - offset
        var at = first
        let showsDate = duration > 86_400_000 || step >= 86_400_000
        while at <= range.end.milliseconds && ticks.count <= maximumTicks + 1 {
            let instant = Timestamp(milliseconds: at)
            let full = times.seconds(instant)  // 2026-11-26 02:10:00Z or 2026-11-26 03:10:00+01:00
            let date = String(full.dropFirst(5).prefix(5))  // 11-26
            let clock = String(full.dropFirst(11).prefix(step < 60_000 ? 8 : 5))
            ticks.append(Tick(at: instant, label: showsDate ? "\(date) \(clock)" : clock))
            at += step
        }
        self.ticks = ticks
    }
}
