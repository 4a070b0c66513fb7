import ArgumentParser
import Foundation
import Testing
@testable import LBServer

/// The settings table: every flag is a row with a config key (or says why not), each row's flag
/// and key read a value into the same configuration and refuse a bad one for the same reason, and
/// reload-ability comes from the rows.
@Suite struct SettingsTableTests {
    /// A value other than the default for every setting, as a user would type it.
    static let samples: [String: String] = [
        "listen": "127.0.0.1:9000", "port": "9001", "admin": "127.0.0.1:9091", "threads": "3",
        "max_connections": "5", "max_request_line": "1024", "max_header_bytes": "2048", "max_headers": "20",
        "header_timeout": "3s", "idle_timeout": "5s", "body_timeout": "7s",
        "health.interval": "5s", "health.down_interval": "500ms", "health.timeout": "1s", "health.path": "/healthz",
        "health.rise": "2", "health.fall": "3",
        "outlier.failures": "3", "outlier.5xx": "on", "outlier.window": "10s", "outlier.base_ejection": "5s",
        "outlier.max_ejection": "1m", "outlier.max_ejected_percent": "25",
        "retries": "1", "retry_delay": "20ms", "attempts": "2", "connect_timeout": "1s", "response_timeout": "30s",
        "replay_buffer": "1024", "upstream_idle_connections": "8", "tunnel_idle_timeout": "10m", "upgrade_protocols": "websocket,echo",
        "backends": "http://127.0.0.1:9002", "algorithm": "hash", "hash_key": "cookie:session", "slow_start": "30s",
        "log_level": "debug", "log_format": "json", "access_log": "-",
        "database": "/tmp/elsewhere.sqlite3", "instance": "lb-b", "outbox": "/tmp/outbox.sqlite3", "control_socket": "/tmp/lb-b.control", "registry_poll_interval": "2s", "state_max_age": "1m", "discard-events": "true", "grace_period": "3s",
        "tls": "/etc/lb/a.pem:/etc/lb/a.key", "tls-cert": "/etc/lb/a.pem", "tls-key": "/etc/lb/a.key",
        "tls_client_ca": "/etc/lb/ca.pem", "backend_ca": "/etc/lb/backends-ca.pem", "backend_cert": "/etc/lb/lb.pem",
        "backend_key": "/etc/lb/lb.key",
    ]

    /// A value each setting refuses.
    static let refused: [String: String] = [
        "listen": "localhost", "admin": ":9091", "threads": "0", "max_connections": "0", "max_request_line": "15",
        "max_header_bytes": "many", "max_headers": "-1", "header_timeout": "0s", "idle_timeout": "soon",
        "body_timeout": "99999999999999999h", "health.interval": "99999999999999999h", "health.down_interval": "0",
        "health.timeout": "1.5s", "health.path": "healthz", "health.rise": "0", "health.fall": "x",
        "outlier.failures": "0", "outlier.5xx": "maybe", "outlier.window": "0s", "outlier.base_ejection": "never",
        "outlier.max_ejection": "-1s", "outlier.max_ejected_percent": "150",
        "retries": "-1", "retry_delay": "later", "attempts": "0", "connect_timeout": "-2s", "response_timeout": "1y",
        "replay_buffer": "64KiB", "upstream_idle_connections": "-1", "tunnel_idle_timeout": "-1h", "upgrade_protocols": "websocket,h2c",
        "backends": "ftp://127.0.0.1:1", "algorithm": "fastest", "hash_key": "ip", "slow_start": "9999999999h",
        "log_level": "loud", "log_format": "xml", "access_log": "", "database": "", "instance": "a b", "outbox": "", "control_socket": "", "registry_poll_interval": "1ms", "state_max_age": "old",
        "grace_period": "forever", "tls_client_ca": "", "backend_ca": "", "backend_cert": "", "backend_key": "",
    ]

    private func configuration(flags: [String]) throws -> ServerConfiguration {
        try LBServerCommand.parse(flags).makeConfiguration()
    }

    private func configuration(file text: String) throws(ConfigurationError) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        try ConfigFile(path: "lb.yaml").apply(text, to: &configuration)
        return configuration
    }

    /// `key: value` as the file writes it, nested under its section.
    private func yaml(_ key: String, _ value: String) -> String {
        let parts = key.split(separator: ".")
        let quoted = "\"\(value)\""
        let head = "# lb.yaml\n"
        if key == "backends" { return head + "backends:\n  - \(quoted)\n" }
        if key == "tls" {
            let pair = value.split(separator: ":", maxSplits: 1)
            return head + "tls:\n  - cert: \"\(pair[0])\"\n    key: \"\(pair.count > 1 ? pair[1] : "")\"\n"
        }
        return head + (parts.count == 2 ? "\(parts[0]):\n  \(parts[1]): \(quoted)\n" : "\(key): \(quoted)\n")
    }

    @Test func everyFlagOfTheCommandIsARowOfTheTable() throws {
        let help = LBServerCommand.helpMessage(includeHidden: true, columns: 10_000)
        let flags = Set(help.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," })
            .filter { $0.hasPrefix("--") && $0.count > 2 }.map { String($0.dropFirst(2)) })
        // --replace is an action, not a setting: a config file has no say in it.
        let notSettings: Set = ["config", "check-config", "replace", "help"]
        let rows = Set(Settings.all.compactMap(\.flag))
        #expect(flags.subtracting(notSettings) == rows, "\(flags.symmetricDifference(rows.union(notSettings)))")
        #expect(rows.count == Settings.all.filter { $0.flag != nil }.count, "a flag is in two rows")
        #expect(rows.count == 53)
    }

    @Test func everySettingHasAKeyAndAFlagOrSaysWhyNot() {
        for setting in Settings.all {
            #expect(setting.key != nil || setting.flag != nil, "\(setting.name)")
            let oneWay = setting.key == nil || setting.flag == nil
            #expect((setting.onlyOneWay != nil) == oneWay, "\(setting.name): a reason exactly where a way is missing")
            #expect(!setting.help.isEmpty && !setting.help.hasSuffix("."), "\(setting.name)")
        }
        let keys = Settings.all.compactMap(\.key)
        #expect(Set(keys).count == keys.count, "a key is in two rows")
        #expect(Set(Settings.all.compactMap(\.flag)).subtracting(Settings.all.compactMap(\.key).map {
            $0.replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: ".", with: "-") })
            == ["port", "db", "discard-events", "rise", "fall", "tls-cert", "tls-key"])
    }

    @Test func theDefaultsAreTheConfigurationsInitialValuesAndReadBack() throws {
        for setting in Settings.all {
            #expect(!setting.defaultText.isEmpty, "\(setting.name)")
        }
        #expect(Settings.healthInterval.defaultText == "20s")
        #expect(Settings.responseTimeout.defaultText == "1m")
        #expect(Settings.replayBuffer.defaultText == "65536")
        #expect(Settings.listen.defaultText == "127.0.0.1:8080")
        #expect(Settings.admin.defaultText == "off")
        #expect(Settings.algorithm.defaultText == "round-robin")
        #expect(try configuration(flags: []).proxy.maxConnections == 10_000)
    }

    @Test func aFlagAndItsKeyReadTheSameValueIntoTheSameConfiguration() throws {
        #expect(Set(Self.samples.keys) == Set(Settings.all.map { $0.key ?? $0.flag ?? "" }))
        for setting in Settings.all {
            let text = try #require(Self.samples[setting.key ?? setting.flag ?? ""])
            var expected = ServerConfiguration()
            try setting.assign(text, to: &expected)
            #expect(setting.differs(ServerConfiguration(), expected), "\(setting.name): the sample is the default")
            if let flag = setting.flag {
                var arguments = flag == "discard-events" ? ["--discard-events"] : ["--\(flag)", text]
                // A certificate and its key are given in pairs.
                if flag == "tls-cert" || flag == "tls-key" {
                    arguments = ["--tls-cert", Self.samples["tls-cert"]!, "--tls-key", Self.samples["tls-key"]!]
                    expected = ServerConfiguration()
                    try Settings.tls.assign(Self.samples["tls"]!, to: &expected)
                }
                let fromFlag = try configuration(flags: arguments)
                #expect(!Settings.all.contains { $0.differs(fromFlag, expected) }, "--\(flag) \(text)")
            }
            if let key = setting.key {
                let fromFile = try configuration(file: yaml(key, text))
                #expect(!Settings.all.contains { $0.differs(fromFile, expected) }, "\(key): \(text)")
            }
        }
    }

    @Test func aValueAFlagRefusesTheFileRefusesForTheSameReasonWithItsLine() throws {
        for setting in Settings.all where Self.refused[setting.key ?? ""] != nil {
            let key = try #require(setting.key)
            let text = try #require(Self.refused[key])
            let flag = try #require(setting.flag)
            // The flag's transform, as `@Option` runs it; ArgumentParser shows its message.
            let flagError = #expect(throws: ConfigurationError.self, "--\(flag) \(text)") { try setting.readFlag(text) }
            #expect {
                _ = try LBServerCommand.parse(text.hasPrefix("-") ? ["--\(flag)=\(text)"] : ["--\(flag)", text])
            } throws: { error in
                LBServerCommand.message(for: error).contains(flagError?.message ?? "?")
            }
            let fileError = #expect(throws: ConfigurationError.self, "\(key): \(text)") {
                _ = try configuration(file: yaml(key, text))
            }
            #expect(flagError?.problem != nil && flagError?.problem == fileError?.problem,
                    "\(key): \(String(describing: flagError)) / \(String(describing: fileError))")
            #expect(flagError?.key == "--\(flag)" && flagError?.file == nil)
            #expect(fileError?.key == key && fileError?.file == "lb.yaml")
            #expect(fileError?.line == (key == "backends" ? 3 : key.contains(".") ? 3 : 2), "\(key)")
            #expect(fileError?.description.hasPrefix("lb.yaml:\(fileError?.line ?? 0): ") == true)
        }
    }

    @Test func argumentParserShowsTheFlagsOwnReason() {
        #expect {
            _ = try LBServerCommand.parse(["--health-interval", "99999999999999999h"])
        } throws: { error in
            LBServerCommand.message(for: error)
                .contains("--health-interval wants a duration of at most 106751d, not '99999999999999999h'")
        }
    }

    @Test func reloadAppliesEverySettingButThoseThatNeedANewSocketOrProcessAndNamesThose() throws {
        #expect(Settings.all.filter { $0.reload == .atRestart }.map(\.name)
                == ["listen", "--port", "admin", "threads", "database", "instance", "outbox", "control_socket",
                    "--discard-events", "grace_period"])
        let running = ServerConfiguration()
        for setting in Settings.all {
            var new = running
            try setting.assign(try #require(Self.samples[setting.key ?? setting.flag ?? ""]), to: &new)
            let named = ServerConfiguration.settingsNeedingRestart(from: running, to: new)
            switch setting.reload {
            case .applied: #expect(named.isEmpty, "\(setting.name)")
            case .atRestart:
                // --port changes listen, the key a user finds in the file; --discard-events is a
                // flag only, and a reload reads the same flags.
                let expected = setting.key.map { [$0] } ?? (setting.flag == "port" ? ["listen"] : [])
                #expect(named == expected, "\(setting.name): \(named)")
            }
        }
        #expect(ServerConfiguration.settingsNeedingRestart(from: running, to: running).isEmpty)
    }

    @Test func theConfigurationDocumentListsEverySettingAsTheTableDoes() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        #expect(text.contains(Settings.markdownReference),
                "docs/configuration.md's reference differs from the table; it should read:\n\(Settings.markdownReference)")
    }
}
