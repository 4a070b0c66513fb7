import Foundation
import LBStore
import NIOCore
import NIOPosix
import Testing
@testable import LBServer

@Suite struct ConfigFileTests {
    private func parse(_ text: String) throws(ConfigFile.ParseError) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        try ConfigFile(path: "lb.yaml").apply(text, to: &configuration)
        return configuration
    }

    @Test func theIntermediarySettingsAreReadAndH2CIsRefusedWithItsLine() throws {
        let configuration = try parse("""
            body_timeout: 30s
            tunnel_idle_timeout: 10m
            upgrade_protocols: WebSocket, echo
            """)
        #expect(configuration.proxy.bodyTimeout == .seconds(30))
        #expect(configuration.proxy.tunnelIdleTimeout == .seconds(600))
        #expect(configuration.proxy.upgradeProtocols == ["websocket", "echo"])
        #expect(try parse("upgrade_protocols: none").proxy.upgradeProtocols.isEmpty)
        do {
            _ = try parse("threads: 1\nupgrade_protocols: websocket,h2c\n")
            Issue.record("h2c was accepted")
        } catch {
            #expect(error.description.contains("lb.yaml:2"), "\(error.description)")
            #expect(error.description.contains("h2c upgrades are never tunnelled"))
        }
    }

    @Test func everySettingIsRead() throws {
        let configuration = try parse("""
            listen: 127.0.0.1:9000
            database: /var/lib/lb/lb.sqlite3
            threads: 3
            log_level: debug
            backends:
              - http://127.0.0.1:9001
              - " http://127.0.0.1:9002/api "
            health:
              interval: 5s
              down_interval: 500ms
              timeout: 1s
              path: /healthz
              rise: 2
              fall: 3
            retries: 1
            retry_delay: 20ms
            attempts: 2
            connect_timeout: 1s
            response_timeout: 30s
            replay_buffer: 1024
            grace_period: 3s
            """)
        #expect(configuration.listenPort == 9000)
        #expect(configuration.databasePath == "/var/lib/lb/lb.sqlite3")
        #expect(configuration.threads == 3)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.backends.map(\.text) == ["http://127.0.0.1:9001", "http://127.0.0.1:9002/api"])
        #expect(configuration.health.interval == .seconds(5))
        #expect(configuration.health.downInterval == .milliseconds(500))
        #expect(configuration.health.probe == .http(path: "/healthz"))
        #expect(configuration.health.rise == 2 && configuration.health.fall == 3)
        #expect(configuration.proxy.retriesPerBackend == 1)
        #expect(configuration.proxy.retryDelay == .milliseconds(20))
        #expect(configuration.proxy.maximumAttempts == 2)
        #expect(configuration.proxy.responseTimeout == .seconds(30))
        #expect(configuration.proxy.replayBufferBytes == 1024)
        #expect(configuration.gracePeriod == .seconds(3))
    }

    @Test func balancingSettingsAreReadAndDefaultToRoundRobin() throws {
        let balancing = try parse("algorithm: hash\nhash_key: cookie:session\nslow_start: 30s\n").balancing
        #expect(balancing.algorithm == .hash)
        #expect(balancing.hashKey == .cookie("session"))
        #expect(balancing.slowStart == .seconds(30))
        let defaults = try parse("threads: 1\n").balancing
        #expect(defaults.algorithm == .roundRobin && defaults.hashKey == .clientAddress && defaults.slowStart == .zero)
        for algorithm in BalancingAlgorithm.allCases {
            #expect(try parse("algorithm: \(algorithm.rawValue)\n").balancing.algorithm == algorithm)
        }
    }

    @Test(arguments: [
        ("listen: 127.0.0.1:1\nbackend: http://127.0.0.1:2\n", "lb.yaml:2: unknown setting 'backend'"),
        ("health:\n  intervl: 2s\n", "lb.yaml:2: unknown setting 'health.intervl'"),
        ("retries: three\n", "lb.yaml:1: retries must be a whole number of at least 0"),
        ("threads: 2\nhealth:\n  interval: soon\n", "lb.yaml:3: health.interval must be a duration"),
        ("backends:\n  - http://127.0.0.1:1\n  - ftp://x:2\n", "lb.yaml:3: backend URL 'ftp://x:2' uses scheme 'ftp'"),
        ("backends:\n  - http://127.0.0.1:1\n  - http://127.0.0.1:1\n", "lb.yaml:3: backend http://127.0.0.1:1 is listed twice"),
        ("- just\n- a list\n", "lb.yaml:1: the file must be a mapping"),
        ("threads: 1\nalgorithm: fastest\n",
         "lb.yaml:2: algorithm must be one of round-robin, weighted, least-connections, p2c, hash"),
        ("hash_key: query:user\n", "lb.yaml:1: hash_key must be client-address, header:NAME or cookie:NAME"),
        ("algorithm: hash\n\nslow_start: soon\n", "lb.yaml:3: slow_start must be a duration"),
        ("algorithm: [weighted]\n", "lb.yaml:1: algorithm must be a single value"),
        ("tls:\n  - { cert: /etc/lb/a.pem }\n", "lb.yaml:2: each tls item needs both cert and key"),
        ("tls:\n  - { cert: a.pem, key: a.key, chain: c.pem }\n", "lb.yaml:2: unknown setting 'tls.chain'"),
        ("tls: /etc/lb/a.pem\n", "lb.yaml:1: tls must be a list of {cert, key}"),
    ])
    func unknownKeysAndBadValuesNameTheKeyAndLine(text: String, expected: String) {
        let error = #expect(throws: ConfigFile.ParseError.self) { try parse(text) }
        #expect(error?.description.hasPrefix(expected) == true, "\(error?.description ?? "")")
    }
}

@Suite(.serialized) struct ConfigFileEndToEndTests {
    @Test func backendsComeFromTheConfigFileAndFlagsOverrideIt() throws {
        let folder = try TemporaryFolder()
        let group = MultiThreadedEventLoopGroup.singleton
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        defer { a.stop(); b.stop() }
        let config = folder.url.appendingPathComponent("lb.yaml").path
        try """
            listen: 127.0.0.1:1
            backends:
              - \(a.url)
              - \(b.url)
            health:
              interval: 1m
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let check = try runProduct("lbserver", ["--check-config", config], folder: folder.url)
        #expect(check.status == 0)
        #expect(check.stdout.contains("ok"))
        // --listen overrides the file's port 1, which could not be bound.
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database, "--listen", "127.0.0.1:0"],
                                       folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        #expect(try Set((0..<4).map { _ in try httpRequest(port: port).text }) == ["a", "b"])
    }

    @Test func aBadOrUnreadableConfigFileIsAOneLineError() throws {
        let folder = try TemporaryFolder()
        let config = folder.url.appendingPathComponent("lb.yaml").path
        try "listen: 127.0.0.1:0\nthreds: 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let check = try runProduct("lbserver", ["--check-config", config], folder: folder.url)
        #expect(check.status == 65)
        #expect(check.stderr == "lbserver: \(config):2: unknown setting 'threds'\n")
        let start = try runProduct("lbserver", ["--config", config, "--db", folder.database], folder: folder.url)
        #expect(start.status != 0)
        #expect(start.stderr.contains("unknown setting 'threds'"))
        let missing = try runProduct("lbserver", ["--config", folder.url.appendingPathComponent("nope.yaml").path],
                                     folder: folder.url)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read config file"), "\(missing.stderr)")
    }
}
