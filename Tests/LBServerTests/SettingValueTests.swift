import Foundation
import Logging
import NIOCore
import Testing
@testable import LBServer

/// The value types every setting is read with: what each accepts, what it refuses and with what
/// reason, and that nothing an operator types can trap.
@Suite struct SettingValueTests {
    private func problem<Value: SettingValue>(_ type: Value.Type, _ text: String) -> SettingProblem? {
        do {
            _ = try Value(settingText: text)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [("127.0.0.1:8080", "127.0.0.1", 8080), (":80", "0.0.0.0", 80), ("[::1]:9091", "::1", 9091),
                      ("localhost:0", "localhost", 0), ("0.0.0.0:65535", "0.0.0.0", 65_535)])
    func hostAndPortReadsAddressesAndIPv6InBrackets(text: String, host: String, port: Int) throws {
        let address = try HostAndPort(settingText: text)
        #expect(address == HostAndPort(host: host, port: port))
        #expect(try HostAndPort(settingText: address.settingText) == address)
    }

    @Test(arguments: [("8080", "wants HOST:PORT, not '8080'"), ("host:", "wants HOST:PORT, not 'host:'"),
                      ("host:80x", "wants HOST:PORT, not 'host:80x'"),
                      ("host:65536", "wants HOST:PORT with a port of 0-65535, not 'host:65536'"),
                      ("host:99999999999999999999", "wants HOST:PORT with a port of 0-65535"),
                      ("[::1:80", "wants HOST:PORT with an IPv6 address in brackets"),
                      ("::1]:80", "wants HOST:PORT with an IPv6 address in brackets")])
    func hostAndPortRefusesWithAReason(text: String, reason: String) throws {
        let refused = try #require(problem(HostAndPort.self, text))
        #expect(refused.message(subject: "listen", isFlag: false).hasPrefix("listen \(reason)"),
                "\(refused.message(subject: "listen", isFlag: false))")
    }

    @Test func theAdminAddressNeedsAHostOrOff() throws {
        #expect(try Settings.admin.parse("off") == .off)
        #expect(try Settings.admin.parse("127.0.0.1:0") == .on(HostAndPort(host: "127.0.0.1", port: 0)))
        let refused = #expect(throws: SettingProblem.self) { try Settings.admin.parse(":9091") }
        #expect(refused?.message(subject: "--admin", isFlag: true) == "--admin wants HOST:PORT or off, not ':9091'")
    }

    @Test(arguments: [("250ms", 250), ("2s", 2_000), ("1h30m", 5_400_000), ("7d", 604_800_000), ("0", 0)])
    func durationsAreRead(text: String, milliseconds: Int64) throws {
        #expect(try TimeAmount(settingText: text) == .milliseconds(milliseconds))
    }

    /// A bare number was read as seconds; now the unit is asked for, the same words for flag and file.
    @Test func aDurationWithoutAUnitIsRefusedWithTheUnitToAdd() throws {
        let refused = try #require(problem(TimeAmount.self, "5"))
        #expect(refused.message(subject: "--health-interval", isFlag: true) == "--health-interval: '5' has no unit; add a unit: 5s")
        #expect(refused.message(subject: "health.interval", isFlag: false) == "health.interval: '5' has no unit; add a unit: 5s")
    }

    @Test(arguments: ["99999999999999999h", "9999999999h", "106752d", "99999999999999999999999s",
                      "9223372036854775807ms"])
    func aDurationTooLongIsRefusedNeverATrap(text: String) throws {
        let refused = try #require(problem(TimeAmount.self, text))
        #expect(refused.reason == .duration("a duration of at most 106751d"))
        #expect(refused.message(subject: "--health-interval", isFlag: true)
                == "--health-interval wants a duration of at most 106751d, not '\(text)'")
    }

    @Test func aDurationBelowItsMinimumOrMalformedSaysWhatIsExpected() throws {
        let zero = #expect(throws: SettingProblem.self) { try TimeAmount(settingText: "0s", atLeast: .milliseconds(1)) }
        #expect(zero?.message(subject: "health.timeout", isFlag: false) == "health.timeout must be a duration of at least 1ms, not '0s'")
        let soon = try #require(problem(TimeAmount.self, "soon"))
        #expect(soon.message(subject: "--x", isFlag: true) == "--x wants a duration such as 250ms, 2s or 1m, not 'soon'")
        #expect(soon.message(subject: "x", isFlag: false) == "x must be a duration such as 250ms, 2s or 1m, not 'soon'")
        #expect(try TimeAmount(settingText: "0", atLeast: .zero) == .zero)
    }

    @Test(arguments: [(TimeAmount.seconds(20), "20s"), (.seconds(75), "75s"), (.seconds(3_600), "1h"),
                      (.milliseconds(10), "10ms"), (.zero, "0s"), (.milliseconds(1_500), "1500ms")])
    func aDurationIsWrittenAsItWouldBeTyped(amount: TimeAmount, text: String) throws {
        #expect(amount.settingText == text)
        #expect(try TimeAmount(settingText: text) == amount)
    }

    @Test func countsHaveAMinimumThatTheReasonStates() throws {
        #expect(try Int(settingText: "16", atLeast: 16) == 16)
        for text in ["15", "three", "", "1.5", "99999999999999999999"] {
            let refused = #expect(throws: SettingProblem.self) { try Int(settingText: text, atLeast: 16) }
            #expect(refused?.message(subject: "max_request_line", isFlag: false)
                    == "max_request_line must be a whole number of at least 16, not '\(text)'")
        }
    }

    @Test func choicesNameEveryChoice() throws {
        for algorithm in BalancingAlgorithm.allCases {
            #expect(try BalancingAlgorithm(settingText: algorithm.settingText) == algorithm)
            #expect(BalancingAlgorithm(argument: algorithm.rawValue) == algorithm)
        }
        #expect(problem(BalancingAlgorithm.self, "fastest")?.message(subject: "--algorithm", isFlag: true)
                == "--algorithm must be one of round-robin, weighted, least-connections, p2c, hash, not 'fastest'")
        #expect(try HashKey(settingText: "header:X-User") == .header("X-User"))
        #expect(problem(HashKey.self, "header:") != nil && problem(HashKey.self, "ip") != nil)
        #expect(try LogFormat(settingText: "json") == .json)
        #expect(problem(LogFormat.self, "xml")?.message(subject: "--log-format", isFlag: true)
                == "--log-format must be keyvalue or json, not 'xml'")
        #expect(try Logger.Level(settingText: "notice") == .notice)
        #expect(problem(Logger.Level.self, "loud")?.message(subject: "log_level", isFlag: false)
                == "log_level must be one of trace, debug, info, notice, warning, error, critical, not 'loud'")
    }

    @Test func upgradeProtocolsAndBackendListsUseTheirOwnRules() throws {
        #expect(try UpgradeProtocols(settingText: "WebSocket, echo").names == ["websocket", "echo"])
        #expect(try UpgradeProtocols(settingText: "none").names == [])
        #expect(problem(UpgradeProtocols.self, "websocket,h2c")?.message(subject: "--upgrade-protocols", isFlag: true)
                .hasPrefix("--upgrade-protocols: h2c upgrades are never tunnelled") == true)
        #expect(try Settings.backends.parse("http://a:1,http://b:2").map(\.text) == ["http://a:1", "http://b:2"])
        let twice = #expect(throws: SettingProblem.self) { try Settings.backends.parse("http://a:1,http://a:1") }
        #expect(twice?.message(subject: "--backends", isFlag: true) == "backend http://a:1 is listed twice")
    }

    @Test func theValueTypesAreFlagValuesAndDecodableByTheSameParser() throws {
        #expect(HostAndPort(argument: "[::1]:80") == HostAndPort(host: "::1", port: 80))
        #expect(HostAndPort(argument: "nope") == nil)
        #expect(HashKey(argument: "cookie:s") == .cookie("s"))
        struct File: Decodable { var listen: HostAndPort; var algorithm: BalancingAlgorithm }
        let decoded = try JSONDecoder().decode(File.self, from: Data(#"{"listen": ":81", "algorithm": "p2c"}"#.utf8))
        #expect(decoded.listen == HostAndPort(host: "0.0.0.0", port: 81) && decoded.algorithm == .powerOfTwoChoices)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(File.self, from: Data(#"{"listen": ":81", "algorithm": "fast"}"#.utf8))
        }
    }
}
