import Foundation
import Testing

/// `--help` of both programs as an operator reads it: each value's placeholder says what goes
/// there, and no default breaks a line.
@Suite struct HelpEndToEndTests {
    static let commands: [(program: String, arguments: [String])] =
        [("lbserver", ["serve"]), ("lbserver", ["reload"]), ("lbserver", ["respond"])]
        + ["backends", "add", "remove", "enable", "drain", "disable", "weight", "events", "history", "audit", "why",
           "instances", "prune", "init", "migrate"].map { ("lbctl", [$0]) }

    /// Each `--flag <placeholder>` (or `--flag, --alias <placeholder>`) of a help text.
    static func placeholders(_ help: String) -> [(flag: String, placeholder: String)] {
        let pattern = try! NSRegularExpression(pattern: #"--([a-z0-9-]+)(?:, --[a-z0-9-]+)? <([^>]+)>"#)
        let range = NSRange(help.startIndex..., in: help)
        return pattern.matches(in: help, range: range).map { match in
            (String(help[Range(match.range(at: 1), in: help)!]), String(help[Range(match.range(at: 2), in: help)!]))
        }
    }

    @Test(arguments: commands.indices)
    func noPlaceholderIsTheFlagsOwnName(index: Int) throws {
        let (program, arguments) = Self.commands[index]
        let folder = try TemporaryFolder()
        let help = try runProduct(program, arguments + ["--help"], folder: folder.url)
        #expect(help.status == 0, "\(program) \(arguments): \(help.stderr)")
        let found = Self.placeholders(help.stdout)
        #expect(!found.isEmpty || ["remove", "enable", "drain", "disable", "weight", "instances", "init"].contains(arguments[0]),
                "\(help.stdout)")
        // Where the flag's name is the kind of value (a port, an algorithm's name), it may say it.
        for (flag, placeholder) in found where !["port", "algorithm"].contains(flag) {
            #expect(placeholder != flag, "\(program) \(arguments.joined()) --\(flag) <\(placeholder)>")
        }
    }

    @Test func placeholdersNameWhatGoesThere() throws {
        let folder = try TemporaryFolder()
        var all: [String: String] = [:]
        for (program, arguments) in Self.commands {
            let help = try runProduct(program, arguments + ["--help"], folder: folder.url).stdout
            for (flag, placeholder) in Self.placeholders(help) { all["\(program) \(arguments[0]) --\(flag)"] = placeholder }
        }
        let expected = [
            "lbserver serve --listen": "host:port", "lbserver serve --admin": "host:port|off",
            "lbserver serve --health-interval": "duration", "lbserver serve --grace-period": "duration",
            "lbserver serve --config": "file", "lbserver serve --check-config": "file",
            "lbserver serve --tls-cert": "file", "lbserver serve --backend-ca": "file", "lbserver serve --outbox": "file",
            "lbserver serve --db": "path|url", "lbserver reload --timeout": "duration",
            "lbserver respond --listen": "host:port", "lbserver respond --body": "text",
            "lbctl events --since": "time", "lbctl events --until": "time", "lbctl events --backend": "url", "lbctl events --kind": "event-kind",
            "lbctl history --since": "time", "lbctl audit --since": "time", "lbctl audit --until": "time",
            "lbctl audit --html": "file", "lbctl why --at": "time", "lbctl backends --at": "time",
            "lbctl prune --older-than": "duration", "lbctl migrate --to": "url", "lbctl migrate --from": "file", "lbctl add --weight": "n",
        ]
        for (flag, placeholder) in expected {
            #expect(all[flag] == placeholder, "\(flag): <\(all[flag] ?? "absent")>")
        }
    }

    /// `--body`'s default, "ok" and a newline, was printed raw and broke the help in two.
    @Test func respondsHelpIsNotBrokenByItsDefaultBody() throws {
        let folder = try TemporaryFolder()
        let help = try runProduct("lbserver", ["respond", "--help"], folder: folder.url)
        #expect(help.status == 0)
        #expect(!help.stdout.contains("ok\n)"), "\(help.stdout)")
        let bodyLine = try #require(help.stdout.split(separator: "\n").first { $0.hasPrefix("  --body <text>") })
        #expect(bodyLine.contains("(default: ok and a newline)"), "\(help.stdout)")
    }
}
