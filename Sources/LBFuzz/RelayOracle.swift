#if LB_FUZZ || DEBUG
@testable import LBServer
import Foundation
import NIOCore
import NIOHTTP1

/// The differential oracle over the whole relay: client bytes go through the proxy
/// (`RelayHarness`), and what each side saw is held against NIOHTTP1's reading of the same bytes.
///
/// Every request the proxy accepted must reach the backend as exactly one request that NIOHTTP1
/// reads with the method, target, fields, body and trailers NIOHTTP1 reads from the client's bytes,
/// less the documented rewrites (hop-by-hop and forwarding fields, `Expect`, the proxy's own
/// framing, absolute form to origin form with the authority as Host); a request the proxy refused
/// reaches no backend whole; what the proxy forwards is canonical, so a naive backend
/// (`NaiveRequestParser`) reads it as NIOHTTP1 does; and the bytes each client gets read, under
/// NIOHTTP1, as the answers the backend sent to that client's requests and no other's.
enum RelayOracle {
    /// The oracle's rules; `LB_RELAY_SKIP` (names, comma-separated) leaves some out of a run.
    enum Rule: String, CaseIterable {
        /// The proxy forwarded a request NIOHTTP1 refuses in the client's bytes.
        case acceptsWhatNIOHTTP1Refuses = "accepts-refused"
        /// The backend read a request no client was answered for, or an answer went to the wrong request.
        case smuggled
        /// A forwarded request differs from the client's, beyond the documented rewrites.
        case mismatch
        /// A forwarded head or trailer section is not canonical.
        case canonical
        /// A naive backend reads the proxy's bytes as other requests than NIOHTTP1 does.
        case naive
        /// A relayed answer differs from the backend's.
        case response
        /// 1xx answers other than 100 and 101 are not relayed as documented.
        case interim
        /// The second client did not get the answer to its own request.
        case victim
        /// A backend connection that sent bytes past a response's end was used again.
        case staleConnection = "stale-connection"
        /// A client cannot read the proxy's bytes as HTTP/1.1 answers.
        case clientParse = "client-parse"
    }

    struct Violation: CustomStringConvertible {
        let rule: Rule
        let detail: String
        var description: String { "[\(rule.rawValue)] \(detail)" }
    }

    /// The rules `LB_RELAY_SKIP` leaves out, read once.
    static let skippedFromEnvironment: Set<Rule> = {
        guard let text = getenv("LB_RELAY_SKIP").map({ String(cString: $0) }) else { return [] }
        return Set(text.split(separator: ",").compactMap { Rule(rawValue: $0.trimmingCharacters(in: .whitespaces)) })
    }()

    /// Runs `input` through the relay and returns what breaks the rules not in `skipping`.
    static func check(_ input: [UInt8], skipping: Set<Rule> = skippedFromEnvironment) -> [Violation] {
        let client = NIOHTTP1RequestReader()
        client.feed(input)
        let harness = RelayHarness(shapeSeed: input.count)
        harness.run(input, attackerMethods: client.requests.map(\.head.method))
        var judge = Judge(client: client, harness: harness, input: input)
        judge.run()
        return judge.violations.filter { !skipping.contains($0.rule) }
    }

    // MARK: What the proxy may change

    /// Fields the proxy drops or sets itself on the way to a backend.
    static let rewrittenFields: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "expect", "host", "content-length", "transfer-encoding", "x-forwarded-for",
        "x-forwarded-proto", "x-forwarded-host", "x-request-id",
    ]
    /// Fields that must never reach a backend (besides the names a request's `Connection` lists).
    static let hopByHopFields: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "expect",
    ]
    /// Trailer fields that are never forwarded: framing, routing and hop-by-hop names.
    static let forbiddenTrailers: Set<String> = hopByHopFields.union(["content-length", "transfer-encoding", "host"])

    /// NIOHTTP1 refusals that say nothing about where a request ends: a method or target NIOHTTP1
    /// does not know (the proxy copies it, and the backend's NIOHTTP1 refuses the copy just the
    /// same), and repeated `Content-Length`s, which NIOHTTP1 refuses even when they agree and RFC 9110
    /// §8.6 lets a recipient accept as one (the proxy refuses differing ones and forwards one).
    static func isBenign(_ error: Error?, input: [UInt8]) -> Bool {
        if isCopiedAsIs(error) { return true }
        switch error as? HTTPParserError {
        case .unexpectedContentLength:
            return !String(decoding: input, as: UTF8.self).lowercased().contains("transfer-encoding")
        case .invalidChunkSize:
            // NIOHTTP1's chunk extensions are narrower than RFC 9112 §7.1.1's (it refuses the BWS
            // before `;`, for one); the proxy drops extensions, so they never reach a backend.
            return hasChunkExtension(input)
        case .strictModeAssertion:
            // Nor does it take the BWS RFC 9112 §7.1.1 allows after `;` and around `=`.
            return hasWhitespaceInChunkExtension(input)
        default:
            return false
        }
    }

    /// NIOHTTP1 refused a method or target it does not know; the proxy copies both as they are,
    /// so a backend's NIOHTTP1 refuses the copy for the same reason, not for anything the proxy did.
    static func isCopiedAsIs(_ error: Error?) -> Bool {
        switch error as? HTTPParserError {
        case .invalidMethod, .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment, .invalidHost, .invalidPort:
            true
        default:
            false
        }
    }

    /// Whether a line of `input` starts with hex digits, maybe spaces or tabs, and `;`, and has a
    /// space or tab after that `;` outside a quoted string.
    static func hasWhitespaceInChunkExtension(_ input: [UInt8]) -> Bool {
        var start = 0
        while start < input.count {
            let end = input[start...].firstIndex(of: 10) ?? input.count
            let line = input[start..<end]
            if hasChunkExtension(Array(line)), let semicolon = line.firstIndex(of: 59) {
                var quoted = false, escaped = false
                for byte in line[semicolon...] {
                    if escaped { escaped = false; continue }
                    if quoted && byte == 92 { escaped = true; continue }
                    if byte == 34 { quoted.toggle(); continue }
                    if !quoted && (byte == 32 || byte == 9) { return true }
                }
            }
            start = end + 1
        }
        return false
    }

    /// Whether a line of `input` starts with hex digits, then maybe spaces or tabs, then `;`.
    static func hasChunkExtension(_ input: [UInt8]) -> Bool {
        var lineStart = true, digits = 0, blanks = 0
        for byte in input {
            if byte == 10 {
                lineStart = true; digits = 0; blanks = 0
                continue
            }
            guard lineStart else { continue }
            let isHex = (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte)
            if isHex && blanks == 0 {
                digits += 1
            } else if (byte == 32 || byte == 9) && digits > 0 {
                blanks += 1
            } else if byte == 59 && digits > 0 {
                return true
            } else {
                lineStart = false
            }
        }
        return false
    }
}

/// Applies the rules to one run.
private struct Judge {
    let client: NIOHTTP1RequestReader
    let harness: RelayHarness
    let input: [UInt8]
    var violations: [RelayOracle.Violation] = []
    private var answered = Set<Int>()
    /// NIOHTTP1's refusal of the client's bytes says nothing about framing (`isBenign`), so what
    /// the proxy forwarded past it is not held against it.
    private var clientRefusalIsBenign: Bool

    init(client: NIOHTTP1RequestReader, harness: RelayHarness, input: [UInt8]) {
        self.client = client
        self.harness = harness
        self.input = input
        clientRefusalIsBenign = RelayOracle.isBenign(client.error, input: input)
        // NIOHTTP1 takes `Connection: close` from a trailer section as ending the connection; the
        // proxy (rightly) does not act on trailer fields and reads the next request.
        if case .closedConnection? = client.error as? HTTPParserError, let last = client.requests.last,
           !Self.connectionOptions(last).contains("close"), last.head.version == .http1_1 {
            clientRefusalIsBenign = true
        }
        // llhttp stops at an upgrade request and reads no further; the proxy tunnels only the
        // protocols it allows (never h2c) and serves the rest as plain HTTP/1.1, reading on. What
        // follows such a request is beyond NIOHTTP1's reading of the client's bytes.
        if let last = client.requests.last, last.stopsTheStream, last.head.method != .CONNECT {
            clientRefusalIsBenign = true
        }
    }

    private mutating func fail(_ rule: RelayOracle.Rule, _ detail: String) {
        violations.append(RelayOracle.Violation(rule: rule, detail: detail))
    }

    mutating func run() {
        if let attacker = harness.attacker { judgeAttacker(attacker) }
        if let victim = harness.victim { judgeVictim(victim) }
        for exchange in harness.exchanges where !answered.contains(exchange.sequence) {
            fail(.smuggled, "the backend read request \(exchange.sequence) (\(exchange.request.summary)) on connection "
                 + "\(exchange.connection), and no client got its answer")
        }
        for backend in harness.backends {
            judgeNaiveReading(backend)
            if backend.sentStaleBytes && backend.bytesWrittenAfterStaleBytes > 0 {
                fail(.staleConnection, "connection \(backend.index) sent bytes past a 204's end, and the proxy wrote "
                     + "\(backend.bytesWrittenAfterStaleBytes) more request bytes on it")
            }
            // What the proxy forwards is its own canonical HTTP/1.1: a backend's NIOHTTP1 refuses
            // none of it, but for a method or target copied as the client sent it. Where the
            // client's NIOHTTP1 stopped reading before that request (behind an upgrade), the
            // backend's refusal of a copied method or target is the only reading there is.
            let copied = RelayOracle.isCopiedAsIs(client.error)
                || clientRefusalIsBenign && RelayOracle.isCopiedAsIs(backend.reader.error)
            if let error = backend.reader.error, !copied {
                fail(.acceptsWhatNIOHTTP1Refuses, "the backend's NIOHTTP1 refused what the proxy sent on connection "
                     + "\(backend.index) (\(OracleBackend.name(of: error))); the client's NIOHTTP1 "
                     + (client.error.map { "refused request \(client.requests.count) (\(OracleBackend.name(of: $0)))" }
                        ?? "read all \(client.requests.count) requests"))
            }
        }
    }

    // MARK: Clients

    private mutating func judgeAttacker(_ attacker: RelayHarness.Client) {
        // Answers past the requests NIOHTTP1 read answer requests it could not tell the method
        // of (a HEAD's answer has no body), so only a failure before them counts.
        if let error = attacker.responses.error, attacker.responses.responses.count < client.requests.count {
            fail(.clientParse, "the client's NIOHTTP1 cannot read the proxy's answer \(attacker.responses.responses.count): "
                 + OracleBackend.name(of: error))
        }
        for (index, answer) in attacker.responses.responses.enumerated() {
            let request = index < client.requests.count ? client.requests[index] : nil
            if let marker = answer.head.headers.first(name: "x-oracle-seq") {
                guard let exchange = takeExchange(marker, for: "client request \(index)") else { continue }
                guard let request else {
                    judgeForwardedPastRefusal(index: index, exchange.request)
                    continue
                }
                judgeForwarded(request, exchange.request, index: index)
                judgeAnswer(answer, exchange.answer, sequence: exchange.sequence, request: request)
            } else if answer.head.headers.first(name: "x-oracle-backend-error") != nil, request != nil {
                fail(.mismatch, "NIOHTTP1 reads client request \(index) (\(request!.summary)), but not what the proxy "
                     + "forwarded for it")
            }
        }
    }

    /// The proxy forwarded client request `index`, which NIOHTTP1 did not read whole. Where
    /// NIOHTTP1 read its head and the same body and refused only what followed (the trailer
    /// section, which the proxy may clean), the rest of the stream is beyond comparison.
    private mutating func judgeForwardedPastRefusal(index: Int, _ got: NIOHTTP1RequestReader.Request) {
        if index == client.requests.count, let partial = client.partialRequest, client.error != nil,
           partial.head.method == got.head.method, partial.body == got.body {
            judgeForwarded(partial, got, index: index, comparingTrailers: false)
            clientRefusalIsBenign = true
            return
        }
        guard !clientRefusalIsBenign else { return }
        fail(.acceptsWhatNIOHTTP1Refuses, "the proxy forwarded client request \(index), which NIOHTTP1 refuses ("
             + (client.error.map(OracleBackend.name(of:)) ?? "incomplete") + " at request \(client.requests.count)); "
             + "the backend read \(got.summary)")
    }

    private mutating func judgeVictim(_ victim: RelayHarness.Client) {
        if let error = victim.responses.error {
            fail(.clientParse, "the victim's NIOHTTP1 cannot read the proxy's answer: \(OracleBackend.name(of: error))")
        }
        let answers = victim.responses.responses
        guard answers.count == 1, let answer = answers.first else {
            fail(.victim, "the victim got \(answers.count) answers to its one request")
            return
        }
        guard let marker = answer.head.headers.first(name: "x-oracle-seq") else {
            fail(.victim, "the victim got a \(answer.head.status.code) from the proxy, not the backend's answer")
            return
        }
        guard let exchange = takeExchange(marker, for: "the victim") else { return }
        if exchange.request.head.uri != "/victim" || exchange.request.head.headers["host"] != ["victim.example"] {
            fail(.victim, "the victim got the answer to \(exchange.request.summary)")
        }
        let request = NIOHTTP1RequestReader.Request(
            head: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/victim", headers: ["Host": "victim.example"]),
            body: [], trailers: nil)
        judgeAnswer(answer, exchange.answer, sequence: exchange.sequence, request: request)
    }

    /// The exchange an answer's `X-Oracle-Seq` names, marked answered; nil (with a violation) if
    /// the marker is stale, unknown or already used.
    private mutating func takeExchange(_ marker: String, for whom: String) -> OracleBackend.Exchange? {
        if marker == "stale" {
            fail(.staleConnection, "\(whom) got the bytes a backend sent past a 204's end")
            return nil
        }
        guard let sequence = Int(marker), sequence >= 0, sequence < harness.exchanges.count else {
            fail(.response, "\(whom) got an answer marked \(marker), which no backend sent")
            return nil
        }
        guard answered.insert(sequence).inserted else {
            fail(.smuggled, "\(whom) got the answer to backend request \(sequence), which another request already got")
            return nil
        }
        return harness.exchanges[sequence]
    }

    // MARK: Requests

    private mutating func judgeForwarded(_ sent: NIOHTTP1RequestReader.Request, _ got: NIOHTTP1RequestReader.Request,
                                         index: Int, comparingTrailers: Bool = true) {
        let what = "client request \(index) (\(sent.summary))"
        if sent.head.method != got.head.method {
            fail(.mismatch, "\(what) reached the backend as \(got.head.method.rawValue)")
        }
        let (target, authority) = Self.expectedTarget(sent)
        if let target, got.head.uri != target {
            fail(.mismatch, "\(what) reached the backend with target \(got.head.uri), not \(target)")
        } else if target == nil {
            fail(.canonical, "\(what) was forwarded though its target is neither origin nor absolute form")
        }
        if sent.head.uri == "*" && sent.head.method != .OPTIONS {
            fail(.canonical, "\(what) was forwarded with * though it is not OPTIONS")
        }
        // A field value's trailing whitespace is not part of it (RFC 9110 §5.5); NIOHTTP1 keeps it.
        let host = (authority ?? sent.head.headers["host"].first).map(Self.trimmed)
        if got.head.headers["host"].count != 1 {
            fail(.canonical, "\(what) reached the backend with Host \(got.head.headers["host"])")
        } else if let host, got.head.headers["host"].map(Self.trimmed) != [host] {
            fail(.mismatch, "\(what) reached the backend with Host \(got.head.headers["host"][0]), not \(host)")
        }
        if got.body != sent.body {
            fail(.mismatch, "\(what) reached the backend with a body of \(got.body.count) bytes, not \(sent.body.count)")
        }
        let listed = Self.connectionOptions(sent)
        let sentFields = Self.comparable(sent.head.headers, dropping: listed)
        let gotFields = Self.comparable(got.head.headers, dropping: [])
        if sentFields.map(\.0) != gotFields.map(\.0) || sentFields.map(\.1) != gotFields.map(\.1) {
            fail(.mismatch, "\(what) reached the backend with fields \(gotFields), not \(sentFields)")
        }
        if sent.head.version == .http1_1 && sent.head.headers["host"].isEmpty && authority == nil {
            fail(.canonical, "\(what) was forwarded though it is HTTP/1.1 without Host")
        }
        judgeCanonical(got, sent: sent, what: what, host: host, listed: listed)
        if comparingTrailers { judgeTrailers(sent, got, what: what) }
    }

    private mutating func judgeCanonical(_ got: NIOHTTP1RequestReader.Request, sent: NIOHTTP1RequestReader.Request,
                                         what: String, host: String?, listed: Set<String>) {
        let headers = got.head.headers
        if got.head.version != .http1_1 { fail(.canonical, "\(what) reached the backend as \(got.head.version)") }
        let lengths = headers["content-length"], codings = headers["transfer-encoding"]
        if lengths.count + codings.count > 1 || codings.contains(where: { $0 != "chunked" })
            || lengths.contains(where: { $0 != "\(got.body.count)" }) {
            fail(.canonical, "\(what) reached the backend framed by Content-Length \(lengths), Transfer-Encoding \(codings)")
        }
        let websocket = sent.head.version == .http1_1 && Self.isUpgrade(sent)
            && sent.head.headers["upgrade"].first?.lowercased() == "websocket"
        for (name, value) in headers {
            let lower = name.lowercased()
            let tunnelled = websocket && (lower == "upgrade" || lower == "connection")
            if !tunnelled && (RelayOracle.hopByHopFields.contains(lower) || listed.contains(lower)) {
                fail(.canonical, "\(what) reached the backend with \(name): \(value)")
            }
        }
        if let value = headers["host"].first, !Self.isValidHost(value) {
            fail(.canonical, "\(what) reached the backend with an invalid Host \(value)")
        }
        let forwardedFor = headers["x-forwarded-for"]
        if forwardedFor.count != 1 || !(forwardedFor.first ?? "").hasSuffix(RelayHarness.clientAddress) {
            fail(.canonical, "\(what) reached the backend with X-Forwarded-For \(forwardedFor)")
        }
        if headers["x-forwarded-proto"] != ["http"] {
            fail(.canonical, "\(what) reached the backend with X-Forwarded-Proto \(headers["x-forwarded-proto"])")
        }
        if headers["x-request-id"].count != 1 {
            fail(.canonical, "\(what) reached the backend with X-Request-Id \(headers["x-request-id"])")
        }
        if let host, headers["x-forwarded-host"].map(Self.trimmed) != [host] {
            fail(.canonical, "\(what) reached the backend with X-Forwarded-Host \(headers["x-forwarded-host"]), not \(host)")
        }
    }

    private mutating func judgeTrailers(_ sent: NIOHTTP1RequestReader.Request, _ got: NIOHTTP1RequestReader.Request,
                                        what: String) {
        let gotTrailers = (got.trailers ?? [:]).map { ($0.name.lowercased(), Self.trimmed($0.value)) }
        for (name, value) in gotTrailers where RelayOracle.forbiddenTrailers.contains(name) {
            fail(.canonical, "\(what) reached the backend with the trailer \(name): \(value)")
        }
        // The proxy also drops, as documented, what must not travel in trailers (`ChunkedRequestBody`).
        let expected = (sent.trailers ?? [:]).map { ($0.name.lowercased(), Self.trimmed($0.value)) }
            .filter { !RelayOracle.forbiddenTrailers.contains($0.0) && !ChunkedRequestBody.prohibitedNames.contains($0.0) }
        // A proxy that sends the body with a Content-Length has nowhere to put trailers.
        let framedByLength = !got.head.headers["content-length"].isEmpty
        if !(framedByLength && gotTrailers.isEmpty)
            && (expected.map(\.0) != gotTrailers.map(\.0) || expected.map(\.1) != gotTrailers.map(\.1)) {
            fail(.mismatch, "\(what) reached the backend with trailers \(gotTrailers), not \(expected)")
        }
    }

    /// The target a backend must get (nil when the target must be refused) and, for absolute
    /// form, the authority that becomes its Host.
    static func expectedTarget(_ request: NIOHTTP1RequestReader.Request) -> (String?, String?) {
        let uri = request.head.uri
        if uri.hasPrefix("/") || (uri == "*" && request.head.method == .OPTIONS) { return (uri, nil) }
        guard let schemeEnd = uri.range(of: "://") else { return (nil, nil) }
        let rest = uri[schemeEnd.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        // Userinfo is no part of a Host (RFC 9110 §4.2.4): what follows the last `@` is.
        let authority = String(rest[..<end].split(separator: "@", omittingEmptySubsequences: false).last ?? "")
        var path = String(rest[end...])
        if let fragment = path.firstIndex(of: "#") { path = String(path[..<fragment]) }
        if !path.hasPrefix("/") { path = "/" + path }
        return (path, authority)
    }

    /// `host[:port]` with a reg-name or IPv4 host (or a bracketed IPv6 literal) and a decimal port.
    static func isValidHost(_ value: String) -> Bool {
        guard !value.isEmpty else { return false }
        var host = Substring(value), port: Substring?
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return false }
            host = value[value.index(after: value.startIndex)..<close]
            let after = value[value.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return false }
                port = after.dropFirst()
            }
            return host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } && (port?.allSatisfy(\.isNumber) ?? true)
        }
        if let colon = value.lastIndex(of: ":") {
            host = value[..<colon]
            port = value[value.index(after: colon)...]
        }
        let allowed = { (c: Character) in
            c.isASCII && (c.isLetter || c.isNumber || "-._~!$&'()*+,;=%".contains(c))
        }
        return !host.isEmpty && host.allSatisfy(allowed) && (port.map { $0.allSatisfy { $0.isASCII && $0.isNumber } } ?? true)
    }

    /// Names a request's `Connection` fields list, lower-cased.
    static func connectionOptions(_ request: NIOHTTP1RequestReader.Request) -> Set<String> {
        Set(request.head.headers["connection"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty })
    }

    static func isUpgrade(_ request: NIOHTTP1RequestReader.Request) -> Bool {
        !request.head.headers["upgrade"].isEmpty && connectionOptions(request).contains("upgrade")
    }

    static func trimmed(_ value: String) -> String {
        String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    /// The fields compared across the hop: all but those the proxy drops or sets, in order.
    static func comparable(_ headers: HTTPHeaders, dropping listed: Set<String>) -> [(String, String)] {
        // Trailing whitespace is not part of a field value (RFC 9110 §5.5); NIOHTTP1 keeps it.
        headers.map { ($0.name.lowercased(), trimmed($0.value)) }.filter {
            !RelayOracle.rewrittenFields.contains($0.0) && !listed.contains($0.0)
        }
    }

    // MARK: Answers

    private mutating func judgeAnswer(_ answer: NIOHTTP1ResponseReader.Response, _ sent: OracleBackend.Answer,
                                      sequence: Int, request: NIOHTTP1RequestReader.Request) {
        let what = "the answer to backend request \(sequence) (\(request.summary))"
        let status = Int(answer.head.status.code)
        if status != sent.status { fail(.response, "\(what) reached the client as \(status), not \(sent.status)") }
        if answer.body != sent.body {
            fail(.response, "\(what) reached the client with \(answer.body.count) body bytes, not \(sent.body.count)")
        }
        if answer.head.headers["x-oracle-echo"] != [sent.echo] {
            fail(.response, "\(what) reached the client with X-Oracle-Echo \(answer.head.headers["x-oracle-echo"])")
        }
        if status < 200 || status == 204 || status == 304 {
            let framing = answer.head.headers["content-length"] + answer.head.headers["transfer-encoding"]
            if !framing.isEmpty { fail(.response, "\(what): a \(status) reached the client with framing fields \(framing)") }
        }
        let interim = answer.interim.filter { $0.status.code != 100 }
        let wanted = sent.sentInterim && request.head.version == .http1_1
        if wanted && (interim.count != 1 || interim[0].headers["x-oracle-interim"] != ["\(sequence)"]) {
            fail(.interim, "\(what): the backend's 103 reached the HTTP/1.1 client as \(interim.map { $0.status.code })")
        } else if !wanted && !interim.isEmpty {
            fail(.interim, "\(what): the client (\(request.head.version)) got interim answers "
                 + "\(interim.map { "\($0.status.code) \($0.headers["x-oracle-interim"])" }) it should not")
        }
    }

    // MARK: The naive reading

    /// A canonical stream reads the same to a naive backend as to NIOHTTP1, up to the first
    /// request with trailers (a naive backend reads none, so it loses its place there by design)
    /// and up to where NIOHTTP1 stops (an upgrade, or a refusal reported by another rule).
    private mutating func judgeNaiveReading(_ backend: OracleBackend) {
        let strict = backend.reader.requests
        let naive = backend.naiveRequests
        for (index, request) in strict.enumerated() {
            guard index < naive.count else {
                fail(.naive, "on connection \(backend.index) a naive backend still waits for request \(index) "
                     + "(\(request.summary) to NIOHTTP1)")
                return
            }
            let other = naive[index]
            if other.method != request.head.method.rawValue || other.target != request.head.uri || other.body != request.body {
                fail(.naive, "on connection \(backend.index) a naive backend reads request \(index) as \(other), "
                     + "NIOHTTP1 as \(request.summary)")
                return
            }
            if !(request.trailers ?? [:]).isEmpty || request.stopsTheStream { return }
        }
        if backend.reader.error != nil {
            // NIOHTTP1 refused inside request `strict.count`; a naive backend that read past it
            // into yet another request was handed a request nobody sent, unless that request's
            // trailers are what it misread (it reads none, by design).
            if naive.count > strict.count + 1, !naive[strict.count].trailersFollow {
                fail(.naive, "on connection \(backend.index) a naive backend reads \(naive.count) requests ("
                     + naive.map(\.description).joined(separator: ", ") + ") where NIOHTTP1 read \(strict.count) "
                     + "and refused the next")
            }
            return
        }
        guard naive.count > strict.count else { return }
        let extra = naive[strict.count]
        // A naive backend that completes a request NIOHTTP1 has only begun has still read one too many.
        fail(.naive, "on connection \(backend.index) a naive backend reads a request \(extra) that NIOHTTP1 "
             + (backend.reader.hasPartialRequest ? "has not seen end" : "does not see"))
    }
}
#endif
