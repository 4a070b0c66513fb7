import Foundation
import NIOCore
import NIOPosix
import Testing

/// Bodies in every framing, through the real `lbserver`: chunked uploads with trailers, chunked
/// answers to HTTP/1.1 and HTTP/1.0 clients, and answers delimited by the backend's close.
@Suite struct FramingEndToEndTests {
    private func start(_ behaviour: TestBackend.Behaviour) throws -> (TestBackend, ServerProcess, Int, TemporaryFolder) {
        let folder = try TemporaryFolder()
        let backend = try TestBackend(name: "b", behaviour: behaviour, group: MultiThreadedEventLoopGroup.singleton)
        let server = try ServerProcess(lbserver: ["--backends", backend.url, "--db", folder.database], folder: folder.url)
        return (backend, server, try server.waitUntilListening(), folder)
    }

    @Test func aChunkedUploadWithTrailersReachesTheBackendWholeAndTheConnectionStaysUsable() throws {
        let (backend, server, port, _) = try start(.serve(delay: .zero))
        defer { server.stop(); backend.stop() }
        let connection = try HTTPTestConnection(port: port)
        // Sent in pieces, split inside a chunk size and inside the trailer section.
        let pieces = ["POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                      "lo\r\n1", "2;ext=1\r\nabcdefghijklmnopqr\r\n0\r\nX-Check", "sum: 1\r\n\r\n"]
        for piece in pieces { try connection.send(piece) }
        let response = try connection.readResponse(method: "POST")
        #expect(response.status == 200)
        #expect(response.header("x-seen-body-bytes") == "23")
        #expect(try connection.request().status == 200)
        #expect(backend.bodySizes == [23, 0])
    }

    @Test func aChunkedAnswerReachesAnHTTP11ClientChunkedAndTheConnectionStaysOpen() throws {
        let (backend, server, port, _) = try start(.chunkedAnswer)
        defer { server.stop(); backend.stop() }
        let connection = try HTTPTestConnection(port: port)
        for _ in 0..<2 {
            let response = try connection.request()
            #expect(response.status == 200)
            #expect(response.header("transfer-encoding")?.lowercased() == "chunked")
            #expect(response.text == "chunked-body")
            #expect(response.header("connection") == nil)
        }
        #expect(backend.requests == 2)
    }

    @Test func anHTTP10ClientGetsAChunkedAnswerUnwrappedAndThenTheClose() throws {
        let (backend, server, port, _) = try start(.chunkedAnswer)
        defer { server.stop(); backend.stop() }
        let connection = try HTTPTestConnection(port: port)
        try connection.send("GET / HTTP/1.0\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.header("transfer-encoding") == nil)
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(response.text == "chunked-body")
        #expect(connection.isClosedByPeer())
    }

    @Test func anAnswerWithoutFramingIsRelayedUntilTheBackendClosesAndThenTheClientsConnectionCloses() throws {
        let (backend, server, port, _) = try start(.closeDelimitedAnswer)
        defer { server.stop(); backend.stop() }
        let connection = try HTTPTestConnection(port: port)
        let response = try connection.request()
        #expect(response.status == 200)
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(response.text == "until-close")
        #expect(connection.isClosedByPeer())
        // The backend's close ended a response, not a failure: nothing was retried.
        #expect(backend.requests == 1)
        #expect(try httpRequest(port: port).text == "until-close")
    }
}
