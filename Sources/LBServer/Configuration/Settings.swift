import LBStore
import Logging
import NIOCore

/// Every setting of `lbserver` in one table: each row's flag, config-file key, help, parser, place
/// in `ServerConfiguration` (whose initial values are the defaults) and reload behaviour. The
/// flags (`ServeOptions`), the config file (`ConfigFile`), the reload's restart warning and
/// docs/configuration.md's reference are all read from it.
enum Settings {
    // MARK: Listener and limits

    static let listen = Setting(
        key: "listen", flag: "listen", help: "Address to listen on, HOST:PORT (:PORT for every interface)",
        at: \.listen)

    static let port = Setting(
        key: nil, flag: "port", onlyOneWay: "a shorthand for the port of listen, which the file writes whole",
        help: "Port to listen on (shorthand for --listen 127.0.0.1:PORT; with --listen, replaces its port)",
        placeholder: "port",
        parse: { text throws(SettingProblem) in
            guard let port = Int(text), (0...65_535).contains(port) else {
                throw SettingProblem(reason: .mustBe("a port of 0-65535"), given: text)
            }
            return port
        },
        format: { String($0) }, at: \.listen.port)

    static let admin = Setting(
        key: "admin", flag: "admin",
        help: "Admin listener HOST:PORT serving / (status page), /status (JSON) and /metrics (Prometheus), "
            + "or off; keep it on loopback",
        placeholder: "host:port|off",
        parse: { text throws(SettingProblem) -> OffOr<HostAndPort> in
            guard text != "off" else { return .off }
            do throws(SettingProblem) {
                return .on(try HostAndPort(settingText: text, requiringHost: true))
            } catch where error.reason == .wants("\(HostAndPort.expected) with a host") {
                throw SettingProblem(reason: .wants("\(HostAndPort.expected) or off"), given: text)
            }
        },
        format: { $0.value?.settingText ?? "off" },
        read: { OffOr($0.admin) }, write: { $0.admin = $1.value })

    static let threads = Setting(
        key: "threads", flag: "threads", help: "Event-loop threads", defaultNote: "one per core",
        atLeast: 1, at: \.threads)

    static let maxConnections = Setting(
        key: "max_connections", flag: "max-connections", help: "Client connections open at once; more are closed as they arrive",
        reload: .applied, atLeast: 1, at: \.proxy.maxConnections)

    static let maxRequestLine = Setting(
        key: "max_request_line", flag: "max-request-line", help: "Longest request target in bytes; longer gets 414",
        reload: .applied, atLeast: 16, at: \.proxy.maxRequestLineBytes)

    static let maxHeaderBytes = Setting(
        key: "max_header_bytes", flag: "max-header-bytes", help: "Largest request header block in bytes; larger gets 431",
        reload: .applied, atLeast: 256, at: \.proxy.maxHeaderBytes)

    static let maxHeaders = Setting(
        key: "max_headers", flag: "max-headers", help: "Most request header fields; more gets 431",
        reload: .applied, atLeast: 1, at: \.proxy.maxHeaders)

    static let headerTimeout = Setting(
        key: "header_timeout", flag: "header-timeout",
        help: "Time a client has to send a complete request head; slower gets 408",
        reload: .applied, atLeast: .milliseconds(1), at: \.proxy.headerTimeout)

    static let idleTimeout = Setting(
        key: "idle_timeout", flag: "idle-timeout", help: "A client connection idle this long is closed",
        reload: .applied, atLeast: .milliseconds(1), at: \.proxy.clientIdleTimeout)

    static let bodyTimeout = Setting(
        key: "body_timeout", flag: "body-timeout",
        help: "Longest pause while a client sends a request body; longer gets 408, or a close once the answer began",
        reload: .applied, atLeast: .milliseconds(1), at: \.proxy.bodyTimeout)

    // MARK: Health checks

    static let healthInterval = Setting(
        key: "health.interval", flag: "health-interval", help: "Time between health checks of a backend that is up",
        reload: .applied, atLeast: .milliseconds(1), at: \.health.interval)

    static let healthDownInterval = Setting(
        key: "health.down_interval", flag: "health-down-interval",
        help: "Time between health checks of a backend that is down",
        reload: .applied, atLeast: .milliseconds(1), at: \.health.downInterval)

    static let healthTimeout = Setting(
        key: "health.timeout", flag: "health-timeout", help: "Health check timeout",
        reload: .applied, atLeast: .milliseconds(1), at: \.health.timeout)

    static let healthPath = Setting(
        key: "health.path", flag: "health-path", help: "Check health with GET PATH expecting 2xx instead of a TCP connect",
        defaultNote: "none: a TCP connect", reload: .applied, placeholder: "path",
        parse: { text throws(SettingProblem) in
            guard text.hasPrefix("/") else { throw SettingProblem(reason: .rule("must start with /"), given: text) }
            return HealthSettings.Probe.http(path: text)
        },
        format: { probe in
            switch probe {
            case .tcp: "none"
            case .http(let path): path
            }
        }, at: \.health.probe)

    static let rise = Setting(
        key: "health.rise", flag: "rise", help: "Consecutive passing checks that bring a down backend up",
        reload: .applied, atLeast: 1, at: \.health.rise)

    static let fall = Setting(
        key: "health.fall", flag: "fall", help: "Consecutive failing checks that take an up backend down",
        reload: .applied, atLeast: 1, at: \.health.fall)

    // MARK: Outlier detection

    static let outlierFailures = Setting(
        key: "outlier.failures", flag: "outlier-failures",
        help: "Failed tries in a row (refused, reset, timed out, an invalid answer) that eject a backend "
            + "for a while, no check bringing it back before; off turns outlier detection off",
        reload: .applied, placeholder: "n|off",
        parse: { text throws(SettingProblem) -> OffOr<Int> in
            guard text != "off" else { return .off }
            guard let value = Int(text), value >= 1 else {
                throw SettingProblem(reason: .mustBe("a whole number of at least 1, or off"), given: text)
            }
            return .on(value)
        },
        format: { $0.value.map(String.init) ?? "off" },
        read: { OffOr($0.outlier.consecutiveFailures) }, write: { $0.outlier.consecutiveFailures = $1.value })

    static let outlier5xx = Setting(
        key: "outlier.5xx", flag: "outlier-5xx",
        help: "Whether a 5xx answer counts as a failed try for outlier detection (on or off)",
        reload: .applied, placeholder: "on|off",
        parse: { text throws(SettingProblem) -> Bool in
            switch text {
            case "on", "true": return true
            case "off", "false": return false
            default: throw SettingProblem(reason: .mustBe("on or off"), given: text)
            }
        },
        format: { $0 ? "on" : "off" }, at: \.outlier.countsServerErrors)

    static let outlierWindow = Setting(
        key: "outlier.window", flag: "outlier-window",
        help: "A failed try more than this after the one before starts a new count of failures in a row",
        reload: .applied, atLeast: .milliseconds(1), at: \.outlier.window)

    static let outlierBaseEjection = Setting(
        key: "outlier.base_ejection", flag: "outlier-base-ejection",
        help: "How long a first ejection lasts; the n-th recent one lasts n times as long",
        reload: .applied, atLeast: .milliseconds(1), at: \.outlier.baseEjection)

    static let outlierMaxEjection = Setting(
        key: "outlier.max_ejection", flag: "outlier-max-ejection",
        help: "The longest an ejection lasts; a backend this long without one has one fewer recent ejection",
        reload: .applied, atLeast: .milliseconds(1), at: \.outlier.maxEjection)

    static let outlierMaxEjectedPercent = Setting(
        key: "outlier.max_ejected_percent", flag: "outlier-max-ejected-percent",
        help: "Largest share of the enabled backends ejected at once, in percent, rounded down "
            + "(50: never the only backend)",
        reload: .applied, placeholder: "percent",
        parse: { text throws(SettingProblem) -> Int in
            guard let value = Int(text), (0...100).contains(value) else {
                throw SettingProblem(reason: .mustBe("a whole number from 0 to 100"), given: text)
            }
            return value
        },
        format: { String($0) }, at: \.outlier.maxEjectedPercent)

    // MARK: Retries and the proxy

    static let retries = Setting(
        key: "retries", flag: "retries", help: "Retries of the same backend after a transport failure",
        reload: .applied, atLeast: 0, at: \.proxy.retriesPerBackend)

    static let retryDelay = Setting(
        key: "retry_delay", flag: "retry-delay", help: "Pause before each retry of the same backend",
        reload: .applied, atLeast: .zero, at: \.proxy.retryDelay)

    static let attempts = Setting(
        key: "attempts", flag: "attempts", help: "Distinct backends tried for one request",
        reload: .applied, atLeast: 1, at: \.proxy.maximumAttempts)

    static let connectTimeout = Setting(
        key: "connect_timeout", flag: "connect-timeout", help: "Timeout for connecting to a backend",
        reload: .applied, atLeast: .milliseconds(1), at: \.proxy.connectTimeout)

    static let responseTimeout = Setting(
        key: "response_timeout", flag: "response-timeout", help: "Timeout for a backend's response head",
        reload: .applied, atLeast: .milliseconds(1), at: \.proxy.responseTimeout)

    static let replayBuffer = Setting(
        key: "replay_buffer", flag: "replay-buffer",
        help: "Request bodies up to this many bytes are kept so the request can be retried",
        reload: .applied, atLeast: 0, at: \.proxy.replayBufferBytes)

    static let upstreamIdleConnections = Setting(
        key: "upstream_idle_connections", flag: "upstream-idle-connections",
        help: "Idle keep-alive connections kept per backend and thread for the next requests",
        reload: .applied, atLeast: 0, at: \.proxy.idleConnectionsPerBackend)

    static let tunnelIdleTimeout = Setting(
        key: "tunnel_idle_timeout", flag: "tunnel-idle-timeout",
        help: "An upgraded connection (WebSocket tunnel) idle this long is closed",
        reload: .applied, atLeast: .milliseconds(1), at: \.proxy.tunnelIdleTimeout)

    static let upgradeProtocols = Setting(
        key: "upgrade_protocols", flag: "upgrade-protocols",
        help: "Comma-separated protocols a client may upgrade to through the proxy, or none",
        defaultNote: "websocket; h2c never", reload: .applied, placeholder: UpgradeProtocols.placeholder,
        parse: { text throws(SettingProblem) in try UpgradeProtocols(settingText: text).names },
        format: { UpgradeProtocols(names: $0).settingText }, at: \.proxy.upgradeProtocols)

    // MARK: Balancing

    static let backends = Setting(
        key: "backends", flag: "backends",
        help: "Comma-separated backend URLs, merged into the registry (e.g. http://127.0.0.1:9001,http://127.0.0.1:9002)",
        defaultNote: "none: the registry as it is", reload: .applied, placeholder: "urls",
        parse: { text throws(SettingProblem) in
            do throws(BackendURL.ParseError) {
                return try BackendURL.parseList(text)
            } catch {
                throw SettingProblem(reason: .sentence(error.description), given: text)
            }
        },
        format: { $0.map(\.text).joined(separator: ",") }, at: \.backends,
        write: { configuration, backends in
            // The flag's list replaces the file's: what the file declared of a backend it no
            // longer lists goes with it.
            configuration.backends = backends
            let listed = Set(backends.map(\.text))
            configuration.backendDeclarations = configuration.backendDeclarations.filter { listed.contains($0.key) }
            configuration.backendOptions = configuration.backendOptions.filter { listed.contains($0.key) }
        })

    static let algorithm = Setting(
        key: "algorithm", flag: "algorithm",
        help: "Balancing algorithm: \(BalancingAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))",
        reload: .applied, at: \.balancing.algorithm)

    static let hashKey = Setting(
        key: "hash_key", flag: "hash-key", help: "What --algorithm hash hashes: \(HashKey.forms)",
        reload: .applied, at: \.balancing.hashKey)

    static let slowStart = Setting(
        key: "slow_start", flag: "slow-start",
        help: "Time a backend that came back up takes to ramp up to its full weight",
        defaultNote: "0s: off", reload: .applied, atLeast: .zero, at: \.balancing.slowStart)

    // MARK: Logging

    static let logLevel = Setting(
        key: "log_level", flag: "log-level", help: "Log level: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))",
        reload: .applied, at: \.logLevel)

    static let logFormat = Setting(
        key: "log_format", flag: "log-format",
        help: "Log line format: keyvalue (ts=… level=… msg=\"…\" key=value) or json (one object per line)",
        reload: .applied, at: \.logFormat)

    static let accessLog = Setting(
        key: "access_log", flag: "access-log",
        help: "Write one line per request to FILE (appended), to standard output with -, or nowhere with off",
        reload: .applied, placeholder: "file|-|off",
        parse: { text throws(SettingProblem) -> OffOr<String> in
            guard !text.isEmpty else { throw SettingProblem(reason: .mustBe("a file path, - or off"), given: text) }
            return text == "off" ? .off : .on(text)
        },
        format: { $0.value ?? "off" },
        read: { OffOr($0.accessLog) }, write: { $0.accessLog = $1.value })

    // MARK: Database

    static let database = Setting(
        key: "database", flag: "db",
        help: "Database: an SQLite file, created if missing, or a postgres://USER@HOST/DATABASE URL shared by a fleet",
        defaultNote: "$LB_DB or lb.sqlite3", placeholder: "path|url",
        parse: { text throws(SettingProblem) in
            guard !text.isEmpty else { throw SettingProblem(reason: .mustBe("a file path"), given: text) }
            return text
        },
        format: { $0 }, at: \.databasePath)

    static let instance = Setting(
        key: "instance", flag: "instance",
        help: "This daemon's name among those that share the database: it names every event and health result it records",
        defaultNote: "the host name", placeholder: "name",
        parse: { text throws(SettingProblem) in
            guard InstanceName.isValid(text) else {
                throw SettingProblem(reason: .mustBe("1 to 64 letters, digits, '.', '-' or '_'"), given: text)
            }
            return text
        },
        format: { $0 }, read: { $0.instanceName }, write: { $0.instance = $1 })

    static let outbox = Setting(
        key: "outbox", flag: "outbox",
        help: "With a postgres:// database: the local SQLite file this daemon records into first and restarts from; "
            + "its records are sent on to PostgreSQL in order, exactly once, whenever PostgreSQL can take them",
        defaultNote: "lb-outbox-INSTANCE.sqlite3", placeholder: "file",
        parse: { text throws(SettingProblem) in
            guard !text.isEmpty, !text.contains("://") else { throw SettingProblem(reason: .mustBe("a file path"), given: text) }
            return text
        },
        // The default follows --instance: it reads as its pattern, not as the file it names now.
        format: { $0 }, read: { $0.outboxPath ?? "lb-outbox-INSTANCE.sqlite3" }, write: { $0.outboxPath = $1 })

    static let controlSocket = Setting(
        key: "control_socket", flag: "control-socket",
        help: "The Unix socket on which a new lbserver started with --replace takes over this one's listening sockets, "
            + "and lbserver reload asks for a reload; only this daemon's user and root may use it",
        defaultNote: "DATABASE.control, DATABASE.INSTANCE.control with --instance, OUTBOX.control with PostgreSQL",
        placeholder: "socket",
        parse: { text throws(SettingProblem) in
            guard !text.isEmpty, text.utf8.count <= UnixStreamSocket.maximumPathLength else {
                throw SettingProblem(reason: .mustBe("a file path of at most \(UnixStreamSocket.maximumPathLength) bytes"), given: text)
            }
            return text
        },
        // The default follows the database: it reads as its pattern, not as the file it names now.
        format: { $0 }, read: { $0.controlSocket ?? "DATABASE.control" }, write: { $0.controlSocket = $1 })

    static let registryPollInterval = Setting(
        key: "registry_poll_interval", flag: "registry-poll-interval",
        help: "How often the registry is read for changes made with lbctl; with a postgres:// database "
            + "each change is also pushed at once (LISTEN/NOTIFY), and this poll is the fallback",
        reload: .applied, atLeast: .milliseconds(10), at: \.registryPollInterval)

    static let stateMaxAge = Setting(
        key: "state_max_age", flag: "state-max-age",
        help: "Restored health older than this is not trusted: every backend is checked before accepting",
        reload: .applied, atLeast: .zero, at: \.stateMaxAge)

    static let discardEvents = Setting(
        key: nil, flag: "discard-events", onlyOneWay: "a benchmark's switch, never a deployment's",
        help: "Benchmark only: events are counted and thrown away instead of being written",
        placeholder: "", hidden: true,
        parse: { text throws(SettingProblem) in
            guard let value = Bool(text) else { throw SettingProblem(reason: .mustBe("true or false"), given: text) }
            return value
        },
        format: { String($0) }, at: \.discardEvents)

    // MARK: TLS

    static let tls = Setting(
        key: "tls", flag: nil,
        onlyOneWay: "a list of {cert, key} mappings; on the command line each pair is --tls-cert and --tls-key",
        help: "Certificates of the traffic listener, each a PEM chain and its key, chosen by the name a client asks "
            + "for (SNI), the first for clients that ask for none; TLS is on when there is one",
        defaultNote: "none: plain HTTP", reload: .applied, placeholder: "cert:key,…",
        parse: { text throws(SettingProblem) in
            try text.split(separator: ",").map { item throws(SettingProblem) in
                let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw SettingProblem(reason: .mustBe("CERT:KEY pairs of file paths"), given: text)
                }
                return CertificatePair(certificate: parts[0], key: parts[1])
            }
        },
        format: { $0.map { "\($0.certificate):\($0.key)" }.joined(separator: ",") }, at: \.tls.certificates)

    static let tlsCert = Setting(
        key: nil, flag: "tls-cert",
        onlyOneWay: "one half of a pair with --tls-key; the file lists the pairs under tls",
        help: "A certificate chain (PEM, the leaf first) of the traffic listener; repeat with --tls-key for each "
            + "certificate, the first the default",
        defaultNote: "none", reload: .applied, placeholder: "file",
        parse: { text throws(SettingProblem) in try [Self.path(text)] },
        format: { $0.joined(separator: ",") }, read: { $0.tls.certificates.map(\.certificate) },
        write: { configuration, paths in
            configuration.tls.certificates = paths.enumerated().map { index, path in
                CertificatePair(certificate: path, key: index < configuration.tls.certificates.count
                                ? configuration.tls.certificates[index].key : "")
            }
        })

    static let tlsKey = Setting(
        key: nil, flag: "tls-key",
        onlyOneWay: "one half of a pair with --tls-cert; the file lists the pairs under tls",
        help: "The private key (PEM, not readable by other users) of the --tls-cert in the same place",
        defaultNote: "none", reload: .applied, placeholder: "file",
        parse: { text throws(SettingProblem) in try [Self.path(text)] },
        format: { $0.joined(separator: ",") }, read: { $0.tls.certificates.map(\.key) },
        write: { configuration, paths in
            for (index, path) in paths.enumerated() {
                if index < configuration.tls.certificates.count {
                    configuration.tls.certificates[index].key = path
                } else {
                    configuration.tls.certificates.append(CertificatePair(certificate: "", key: path))
                }
            }
        })

    static let tlsClientCA = Setting(
        key: "tls_client_ca", flag: "tls-client-ca",
        help: "Require a client certificate issued by a CA of this PEM file on the traffic listener",
        defaultNote: "none: no client certificate asked for", reload: .applied, placeholder: "file|off",
        parse: { text throws(SettingProblem) -> OffOr<String> in text == "off" ? .off : .on(try Self.path(text)) },
        format: { $0.value ?? "off" }, read: { OffOr($0.tls.clientCA) }, write: { $0.tls.clientCA = $1.value })

    static let backendCA = optionalPath(
        key: "backend_ca", flag: "backend-ca",
        help: "Verify https:// backends against the CAs of this PEM file instead of the system's trust store",
        defaultNote: "the system's trust store", at: \.backendTLS.ca)

    static let backendCert = optionalPath(
        key: "backend_cert", flag: "backend-cert",
        help: "A client certificate (PEM chain) presented to https:// backends that ask for one; with --backend-key",
        defaultNote: "none", at: \.backendTLS.certificate)

    static let backendKey = optionalPath(
        key: "backend_key", flag: "backend-key", help: "The private key (PEM, not readable by other users) of --backend-cert",
        defaultNote: "none", at: \.backendTLS.key)

    /// A file path that is unset by default.
    private static func optionalPath(key: String, flag: String, help: String, defaultNote: String,
                                     at keyPath: WritableKeyPath<ServerConfiguration, String?> & Sendable) -> Setting<String> {
        // The backend TLS files, which a reload reads again.
        Setting(key: key, flag: flag, help: help, defaultNote: defaultNote, reload: .applied, placeholder: "file",
                parse: { text throws(SettingProblem) in try Self.path(text) },
                format: { $0 }, read: { $0[keyPath: keyPath] ?? defaultNote }, write: { $0[keyPath: keyPath] = $1 })
    }

    private static func path(_ text: String) throws(SettingProblem) -> String {
        guard !text.isEmpty else { throw SettingProblem(reason: .mustBe("a file path"), given: text) }
        return text
    }

    // MARK: Lifecycle

    static let gracePeriod = Setting(
        key: "grace_period", flag: "grace-period", help: "On SIGTERM, how long in-flight requests may take to finish",
        atLeast: .zero, at: \.gracePeriod)

    /// Every setting, in the order `--help` and the reference list them.
    static let all: [any AnySetting] = [
        listen, port, admin, threads, maxConnections, maxRequestLine, maxHeaderBytes, maxHeaders, headerTimeout,
        idleTimeout, bodyTimeout,
        healthInterval, healthDownInterval, healthTimeout, healthPath, rise, fall,
        outlierFailures, outlier5xx, outlierWindow, outlierBaseEjection, outlierMaxEjection, outlierMaxEjectedPercent,
        retries, retryDelay, attempts, connectTimeout, responseTimeout, replayBuffer, upstreamIdleConnections,
        tunnelIdleTimeout, upgradeProtocols,
        backends, algorithm, hashKey, slowStart,
        logLevel, logFormat, accessLog,
        database, instance, outbox, controlSocket, registryPollInterval, stateMaxAge, discardEvents,
        tls, tlsCert, tlsKey, tlsClientCA, backendCA, backendCert, backendKey,
        gracePeriod,
    ]

    /// The setting a config file key names (`health.interval`), if any.
    static func setting(forKey key: String) -> (any AnySetting)? {
        all.first { $0.key == key }
    }

    /// Whether some setting's key sits under `section` (`health`), so `section` is a mapping.
    static func isSection(_ section: String) -> Bool {
        all.contains { $0.key?.hasPrefix(section + ".") == true }
    }
}
