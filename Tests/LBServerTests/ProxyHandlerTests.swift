import NIOCore
import NIOEmbedded
import Testing
@testable import LBServer

/// The proxy handler on `EmbeddedChannel`s (see `EmbeddedProxy`): retries, pipelining, an answer
/// before the request body ends, back-pressure both ways, an upgrade, a client leaving in the
/// middle of an answer, and shutdown, each driven step by step.
@Suite struct ProxyHandlerTests {
    static let get = "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
    static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    @Test func aGETWhoseConnectionFailsIsSentAgainToTheSameBackendAfterTheRetryDelay() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(Self.get)
        let first = try proxy.upstream(0)
        #expect(first.received().hasPrefix("GET /a HTTP/1.1\r\n"))
        _ = first.channel.close()
        proxy.loop.run()
        // Not before the delay...
        proxy.loop.advanceTime(by: proxy.settings.retryDelay - .milliseconds(1))
        #expect(proxy.upstreams.count == 1)
        // ...then once, with the same request.
        proxy.loop.advanceTime(by: .milliseconds(1))
        let second = try proxy.upstream(1)
        #expect(second.received().hasPrefix("GET /a HTTP/1.1\r\n"))
        try second.send(Self.ok)
        #expect(proxy.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(proxy.backends[0].inFlight.load(ordering: .relaxed) == 0)
    }

    @Test func aPOSTWhoseBackendFailsAfterReceivingItIsAnswered502AndNotRepeated() throws {
        let proxy = try EmbeddedProxy(backends: 2)
        try proxy.send("POST /pay HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc")
        let upstream = try proxy.upstream(0)
        #expect(upstream.received().hasSuffix("\r\n\r\nabc"))
        _ = upstream.channel.close()
        proxy.loop.advanceTime(by: .seconds(1))
        #expect(proxy.received().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(proxy.upstreams.count == 1)
        // The connection stays usable for the next request.
        #expect(proxy.client.isActive)
    }

    @Test func afterTheRetriesOfOneBackendTheNextBackendGetsTheRequest() throws {
        var settings = ProxySettings()
        settings.retriesPerBackend = 1
        let proxy = try EmbeddedProxy(backends: 2, settings: settings)
        try proxy.send(Self.get)
        let chosen = try proxy.upstream(0).backendID
        for index in 0..<2 {
            let upstream = try proxy.upstream(index)
            #expect(upstream.backendID == chosen)
            #expect(upstream.received().hasPrefix("GET /a "))
            _ = upstream.channel.close()
            proxy.loop.advanceTime(by: settings.retryDelay)
        }
        // Two failed tries took the chosen backend down; the other one answers.
        #expect(proxy.backends.first { $0.id == chosen }?.isAlive == false)
        let third = try proxy.upstream(2)
        #expect(third.backendID != chosen)
        #expect(third.received().hasPrefix("GET /a "))
        try third.send(Self.ok)
        #expect(proxy.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func pipelinedRequestsGoToTheBackendOneAtATimeAndAreAnsweredInOrder() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        let upstream = try proxy.upstream(0)
        let first = upstream.received()
        #expect(first.hasPrefix("GET /1 ") && !first.contains("GET /2"))
        try upstream.send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        // The second request went out on the same kept-alive connection once the first was answered.
        #expect(upstream.received().hasPrefix("GET /2 "))
        #expect(proxy.upstreams.count == 1)
        try upstream.send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        let answers = proxy.received()
        let one = try #require(answers.range(of: "one"))
        let two = try #require(answers.range(of: "two"))
        #expect(one.upperBound <= two.lowerBound)
    }

    @Test func anAnswerBeforeTheRequestBodyEndsIsRelayedAndTheRestOfTheBodyIsDropped() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123")
        let upstream = try proxy.upstream(0)
        #expect(upstream.received().hasSuffix("\r\n\r\n0123"))
        try upstream.send("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
        #expect(proxy.received().hasPrefix("HTTP/1.1 413 "))
        // The rest of the body is read and dropped; the next request gets a fresh connection,
        // since the first one carried a request the backend never saw end.
        try proxy.send("456789" + Self.get)
        #expect(!upstream.channel.isActive)
        let next = try proxy.upstream(1)
        let forwarded = next.received()
        #expect(forwarded.hasPrefix("GET /a ") && !forwarded.contains("456789"))
        try next.send(Self.ok)
        #expect(proxy.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func aBackendThatCannotTakeMoreHoldsBackTheClientsReads() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nfirst")
        let upstream = try proxy.upstream(0)
        upstream.channel.isWritable = false
        upstream.channel.pipeline.fireChannelWritabilityChanged()
        let before = proxy.clientReads.reads
        proxy.client.read()
        #expect(proxy.clientReads.reads == before, "a read passed while the backend could not take more")
        upstream.channel.isWritable = true
        upstream.channel.pipeline.fireChannelWritabilityChanged()
        #expect(proxy.clientReads.reads == before + 1, "the held read went out when the backend could take more")
    }

    @Test func aClientThatCannotTakeMoreHoldsBackTheBackendsReads() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(Self.get)
        let upstream = try proxy.upstream(0)
        proxy.client.isWritable = false
        try upstream.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        let before = upstream.reads.reads
        upstream.channel.read()
        #expect(upstream.reads.reads == before, "a backend read passed while the client could not take more")
        proxy.client.isWritable = true
        proxy.client.pipeline.fireChannelWritabilityChanged()
        #expect(upstream.reads.reads == before + 1)
        try upstream.send("56789")
        #expect(proxy.received().hasSuffix("\r\n\r\n0123456789"))
    }

    @Test func anAcceptedUpgradeJoinsTheTwoConnectionsByteForByte() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let upstream = try proxy.upstream(0)
        let forwarded = upstream.received()
        #expect(forwarded.contains("Upgrade: websocket\r\n"))
        try upstream.send("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello")
        proxy.loop.run()
        let answer = proxy.received()
        #expect(answer.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(answer.hasSuffix("\r\n\r\nhello"))
        #expect(!proxy.proxyHandlerIsInPipeline)
        try proxy.send("from the client")
        #expect(upstream.received() == "from the client")
        try upstream.send("from the backend")
        proxy.loop.run()
        #expect(proxy.received() == "from the backend")
    }

    @Test func aClientLeavingInTheMiddleOfAnAnswerClosesTheBackendConnection() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(Self.get)
        let upstream = try proxy.upstream(0)
        try upstream.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        #expect(proxy.backends[0].inFlight.load(ordering: .relaxed) == 1)
        _ = proxy.client.close()
        proxy.loop.run()
        #expect(!upstream.channel.isActive)
        #expect(proxy.backends[0].inFlight.load(ordering: .relaxed) == 0)
        // Nothing is held against the backend.
        #expect(proxy.backends[0].isAlive)
    }

    @Test func shutdownClosesAnIdleConnectionAfterALinger() throws {
        let proxy = try EmbeddedProxy()
        proxy.client.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        proxy.loop.run()
        // Open a moment longer for a request already on its way.
        #expect(proxy.client.isActive)
        proxy.loop.advanceTime(by: ProxyHandler.shutdownLinger)
        #expect(!proxy.client.isActive)
    }

    @Test func aRequestArrivingDuringTheShutdownLingerIsAnsweredThenTheConnectionCloses() throws {
        let proxy = try EmbeddedProxy()
        proxy.client.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        proxy.loop.run()
        try proxy.send(Self.get)
        try proxy.upstream(0).send(Self.ok)
        proxy.loop.run()
        let answer = proxy.received()
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(answer.contains("Connection: close\r\n"))
        #expect(!proxy.client.isActive)
    }

    @Test func shutdownLetsTheRequestInProgressFinishAndThenCloses() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(Self.get)
        proxy.client.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        proxy.loop.run()
        #expect(proxy.client.isActive)
        try proxy.upstream(0).send(Self.ok)
        proxy.loop.run()
        let answer = proxy.received()
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(answer.contains("Connection: close\r\n"))
        #expect(!proxy.client.isActive)
    }

    @Test func shutdownAfterAnEarlyAnswerClosesOnceTheRequestEndsInsteadOfServingTheNext() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123")
        try proxy.upstream(0).send(Self.ok)
        #expect(proxy.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        proxy.client.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try proxy.send("456789" + Self.get)
        #expect(!proxy.client.isActive)
        #expect(proxy.upstreams.count == 1, "the request after shutdown began reached a backend")
    }
}
