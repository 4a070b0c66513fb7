extension LaneState {
    /// The fill the HTML report paints the state with; red and green differ in lightness too,
    /// so the lanes stay readable to colour-blind readers and in greyscale print.
    var fill: String {
        switch self {
        case .up: return "#3a9d5d"
        case .down: return "#c62828"
        case .drained: return "#f2a900"
        case .disabled: return "#5f6b7a"
        case .unknown: return "#c5ccd6"
        case .notRegistered: return "url(#absent)"
        case .noBalancer: return "url(#stopped)"
        case .noRecord: return "url(#norecord)"
        }
    }
}
