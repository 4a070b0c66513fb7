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
///
/// Every handler follows the process's `LineLogHandler.live` level and format, which a reload
/// sets; a logger whose level was set on it keeps that level.
struct LineLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    /// A level set on this handler's logger, over the live one.
    private var ownLevel: Logger.Level?

    var logLevel: Logger.Level {
        get { ownLevel ?? Self.live.level }
        set { ownLevel = newValue }
    }

    var format: LogFormat { Self.live.format }

    /// Serializes writes from every logger of the process.
    private static let output = Mutex(())

    /// The level and format of the process's lines.
    static let live = LiveLogSettings()

    init() {}

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// `level` and `format` for every handler of the process from now on.
    static func bootstrap(format: LogFormat, level: Logger.Level) {
        live.set(level: level, format: format)
        LoggingSystem.bootstrap { _ in LineLogHandler() }
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

/// The level and format every `LineLogHandler` reads: two atomics a reload stores.
final class LiveLogSettings: Sendable {
    private let levelIndex = Atomic<Int>(Logger.Level.allCases.firstIndex(of: .info)!)
    private let formatIndex = Atomic<Int>(0)

    var level: Logger.Level { Logger.Level.allCases[levelIndex.load(ordering: .relaxed)] }
    var format: LogFormat { LogFormat.allCases[formatIndex.load(ordering: .relaxed)] }

    func set(level: Logger.Level, format: LogFormat) {
        levelIndex.store(Logger.Level.allCases.firstIndex(of: level)!, ordering: .relaxed)
        formatIndex.store(LogFormat.allCases.firstIndex(of: format)!, ordering: .relaxed)
    }
}
