// swift-tools-version:6.1
// Benchmarks live in their own package so that building and testing the product never builds
// the benchmark harness. Run: scripts/bench-store (or swift package benchmark from this folder).
import PackageDescription

let package = Package(
    name: "swift-lb-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-lb", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "LBStore", package: "swift-lb"),
            ],
            path: "StoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
