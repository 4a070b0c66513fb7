#if LB_FUZZ
@testable import LBServer
/// libFuzzer entry point over the whole relay (`LB_FUZZ_TARGET=relay`): the input is one client's
/// bytes, and `RelayOracle` judges what the backend and both clients saw. A broken rule stops the
/// run with the rule and the evidence, so libFuzzer keeps the input as a crash.
public func fuzzRelay(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: start, count: count))
    let violations = RelayOracle.check(input)
    if !violations.isEmpty {
        fatalError("relay oracle: \(violations.count) rule(s) broken\n"
                   + violations.map(\.description).joined(separator: "\n"))
    }
    return 0
}
#endif
