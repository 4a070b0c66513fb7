import ArgumentParser
import Logging

/// `lbserver`'s flags for its log and the access log.
struct LoggingOptions: ParsableArguments {
    @Option(Settings.logLevel) var logLevel: Logger.Level?
    @Option(Settings.logFormat) var logFormat: LogFormat?
    @Option(Settings.accessLog) var accessLog: OffOr<String>?

    /// Puts the flags given into `configuration`.
    func apply(to configuration: inout ServerConfiguration) {
        Settings.logLevel.apply(logLevel, to: &configuration)
        Settings.logFormat.apply(logFormat, to: &configuration)
        Settings.accessLog.apply(accessLog, to: &configuration)
    }
}
