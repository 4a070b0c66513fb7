import Testing
@testable import LBStore

/// The enums of what events record keep the strings databases already hold and `lbctl` prints.
@Suite struct StoredVocabularyTests {
    @Test func theRawValuesAreTheStoredStrings() {
        #expect(EventCause.allCases.map(\.rawValue) == ["check", "traffic", "admin", "restore", "request", "outlier"])
        #expect(Evidence.Source.allCases.map(\.rawValue) == ["check", "request", "admin"])
        #expect(ConfigDifference.Field.allCases.map(\.rawValue) == ["registered", "origin", "weight", "admin_state", "backup",
                                                                     "max_connections", "connect_timeout", "response_timeout",
                                                                     "tls_verify"])
        #expect("\(ConfigDifference.Field.adminState):\(BackendOrigin.runtime)" == "admin_state:runtime")
        #expect(EventKind.allCases.map(\.rawValue) == [
            "failure", "retry", "attempt", "status_change", "admin_change", "rejected", "refused", "startup", "shutdown",
            "dropped", "store_error", "suspect_request", "guard_held", "prune", "reload",
        ])
    }

    @Test(arguments: [
        #"{"cause":"traffic","evidence":[{"at":1,"attempt":1,"error":"connection refused","request_id":"r1","source":"request"}],"from":"up","threshold":3,"to":"down"}"#,
        #"{"cause":"restore","evidence":[{"at":5,"error":"recorded down before the restart","source":"check"}],"state_age_ms":120000}"#,
        #"{"differences":[{"config":"2","field":"admin_state","runtime":"9","url":"http://a:1","winner":"runtime"},{"config":"absent","field":"registered","runtime":"present","url":"http://b:1","winner":"config"}],"path":"fresh"}"#,
    ])
    func dataWrittenBeforeTheEnumsReadsAndWritesBackByteForByte(json: String) throws {
        let data = try #require(EventData(json: json))
        #expect(data.json == json)
    }
}
