import Testing
@testable import lbctl

/// Which database lbctl opens when no `--db` is given.
struct DatabaseDefaultTests {
    @Test func theFlagThenLBDBThenTheWorkingDirectorysFileThenTheInstalledDaemonsDatabase() {
        let installed: (String) -> Bool = { $0 == DatabaseOptions.systemDatabase }
        let both: (String) -> Bool = { $0 == DatabaseOptions.systemDatabase || $0 == "lb.sqlite3" }
        let none: (String) -> Bool = { _ in false }
        #expect(DatabaseOptions.resolve("x.sqlite3", environment: ["LB_DB": "y"], fileExists: both) == "x.sqlite3")
        #expect(DatabaseOptions.resolve(nil, environment: ["LB_DB": "y.sqlite3"], fileExists: both) == "y.sqlite3")
        #expect(DatabaseOptions.resolve(nil, environment: ["LB_DB": ""], fileExists: installed) == "/var/lib/lb/lb.sqlite3")
        #expect(DatabaseOptions.resolve(nil, environment: [:], fileExists: both) == "lb.sqlite3")
        #expect(DatabaseOptions.resolve(nil, environment: [:], fileExists: none) == "lb.sqlite3")
    }
}
