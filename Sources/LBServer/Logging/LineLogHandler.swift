import Foundation
import LBStore
import Logging
import Synchronization

/// A swift-log handler that writes one line per event to standard error in the chosen
/// `LogFormat`: time (RFC 3339 UTC, milliseconds), level, message, then the metadata sorted by
/// key.
///
/// Lines are written whole under a lock, so lines from several threads never interleave; like
/// swift-log's `StreamLogHandler` it writes synchronously, and the daemon logs only what is rare
/// (state changes, throttled warnings), never per request.
struct LineLogHandler: LogHandler {
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    /// Serializes writes from every logger of the process.
    private static let output = Mutex(())

    init(format: LogFormat, level: Logger.Level) {
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let text = Self.line(format: format, at: .now(), level: event.level, message: "\(event.message)",
                             metadata: merged)
        Self.output.withLock { _ in
            FileHandle.standardError.write(Data(text.utf8))
        }
    }

    /// The line for one event, newline included.
    static func line(format: LogFormat, at time: Timestamp, level: Logger.Level, message: String,
                     metadata: Logger.Metadata) -> String {
        var fields = [LogField("ts", time.rfc3339), LogField("level", level.rawValue), LogField.quoted("msg", message)]
        for key in metadata.keys.sorted() {
            // A metadata key that repeats a fixed field is kept, renamed, rather than shadowing it.
            let name = ["ts", "level", "msg"].contains(key) ? "meta_\(key)" : key
            fields.append(LogField(name, "\(metadata[key]!)"))
        }
        return format.line(fields)
    }
}
