import Foundation
import Testing
@testable import LBStore
import PostgresTestServer

/// The two engines a `Store` runs on, for tests that hold both to the same behaviour.
enum StoreEngine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A fresh, empty store on this engine: a file in `folder`, or a new database on the test
    /// run's PostgreSQL server. Its location reopens the same data.
    func makeLocation(in folder: TemporaryDirectory) throws -> StoreLocation {
        switch self {
        case .sqlite:
            return .file(folder.path("lb.sqlite3"))
        case .postgres:
            return try StoreLocation(parsing: PostgresTestServer.shared.get().makeDatabase())
        }
    }

    func makeStore(in folder: TemporaryDirectory) throws -> Store {
        try Store(location: makeLocation(in: folder))
    }
}
