// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-lb",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lbserver", targets: ["lbserver-main"]),
        .executable(name: "lbctl", targets: ["lbctl-main"]),
        // libFuzzer's driver over the request path and the relay; built by scripts/fuzz only.
        .executable(name: "lbserver-fuzz", targets: ["lbserver-fuzz"]),
        .library(name: "LBStore", targets: ["LBStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The stored state, on SQLite (embedded, the default) or PostgreSQL (a fleet).
        .target(
            name: "LBStore",
            dependencies: [
                "CSQLite",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the daemon and the CLI both write: JSON strings, HTML text, the version.
        .target(name: "LBText"),
        // The daemon's code as a library; `lbserver-main` is its few-line executable.
        .target(
            name: "LBServer",
            dependencies: [
                "LBStore",
                "LBText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(name: "lbserver-main", dependencies: ["LBServer"]),
        // The fuzz harnesses (request path, relay and its NIOHTTP1 oracle) over the daemon's
        // library; compiled in debug and fuzzing builds, so tests can replay the relay corpus.
        .target(
            name: "LBFuzz",
            dependencies: [
                "LBServer",
                "LBStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "lbserver-fuzz", dependencies: ["LBFuzz"]),
        // The CLI's code as a library; `lbctl-main` is its few-line executable.
        .target(
            name: "lbctl",
            dependencies: [
                "LBStore",
                "LBText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "lbctl-main", dependencies: ["lbctl"]),
        .testTarget(
            name: "LBTextTests",
            dependencies: ["LBText"]
        ),
        .testTarget(
            name: "LBStoreTests",
            dependencies: ["LBStore", "PostgresTestServer"]
        ),
        // A PostgreSQL server of a test run's own (Debian's package, in a temporary directory).
        .target(name: "PostgresTestServer", path: "Tests/PostgresTestServer"),
        .testTarget(
            name: "lbctlTests",
            dependencies: ["LBStore", "LBText", "lbctl", "lbctl-main", "PostgresTestServer"]
        ),
        // Builds the benchmark database of scripts/bench-lbctl; not a product.
        .executableTarget(
            name: "lbctl-seed",
            dependencies: ["LBStore"]
        ),
        .testTarget(
            name: "LBServerTests",
            dependencies: [
                "CSQLite",
                "LBServer",
                "LBFuzz",
                "LBStore",
                "lbserver-main",
                "PostgresTestServer",
                "lbctl-main",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
