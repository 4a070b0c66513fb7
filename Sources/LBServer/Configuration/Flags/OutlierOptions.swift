import ArgumentParser
import NIOCore

/// `lbserver`'s flags for passive outlier detection.
struct OutlierOptions: ParsableArguments {
    @Option(Settings.outlierFailures) var outlierFailures: OffOr<Int>?
    @Option(Settings.outlier5xx) var outlier5xx: Bool?
    @Option(Settings.outlierWindow) var outlierWindow: TimeAmount?
    @Option(Settings.outlierBaseEjection) var outlierBaseEjection: TimeAmount?
    @Option(Settings.outlierMaxEjection) var outlierMaxEjection: TimeAmount?
    @Option(Settings.outlierMaxEjectedPercent) var outlierMaxEjectedPercent: Int?

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.outlierFailures.apply(outlierFailures, to: &configuration)
        Settings.outlier5xx.apply(outlier5xx, to: &configuration)
        Settings.outlierWindow.apply(outlierWindow, to: &configuration)
        Settings.outlierBaseEjection.apply(outlierBaseEjection, to: &configuration)
        Settings.outlierMaxEjection.apply(outlierMaxEjection, to: &configuration)
        Settings.outlierMaxEjectedPercent.apply(outlierMaxEjectedPercent, to: &configuration)
    }
}
