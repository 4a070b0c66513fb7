#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if LB_FUZZ
import LBFuzz

/// The symbol libFuzzer's runtime links against; the driver below is handed its callback
/// explicitly, so this one only has to exist (it fuzzes the request path).
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    fuzzRequestPath(start, count)
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

/// `lbserver-fuzz`, the fuzzing build's entry point: libFuzzer's driver with its usual command
/// line, over the request path, or over the whole relay and its oracle when `LB_FUZZ_TARGET=relay`.
@main
enum FuzzEntryPoint {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let target = getenv("LB_FUZZ_TARGET").map { String(cString: $0) } ?? "request-path"
        switch target {
        case "relay":
            exit(runFuzzerDriver(&argc, &argv, fuzzRelay))
        case "request-path":
            exit(runFuzzerDriver(&argc, &argv, fuzzRequestPath))
        default:
            print("LB_FUZZ_TARGET must be request-path or relay, not \(target)")
            exit(2)
        }
    }
}
#else
/// Without `-DLB_FUZZ -sanitize=fuzzer` there is no fuzzer to run: `scripts/fuzz` builds this
/// product the way it must be built.
@main
enum FuzzEntryPoint {
    static func main() {
        print("lbserver-fuzz: build it with scripts/fuzz (-sanitize=fuzzer -DLB_FUZZ)")
        exit(2)
    }
}
#endif
