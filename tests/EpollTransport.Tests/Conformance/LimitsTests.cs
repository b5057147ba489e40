using System.Net;
using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>Kestrel's limits and its rejection of malformed requests, as seen by a client over the transport.</summary>
public class LimitsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static TestServerOptions WithLimits(Action<KestrelServerLimits> configure) => new()
    {
        ConfigureKestrel = kestrel =>
        {
            configure(kestrel.Limits);
            kestrel.Listen(IPAddress.Loopback, 0);
        },
    };

    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/id", (HttpContext context) => context.Connection.Id);
        app.MapPost("/consume", async (HttpContext context) =>
        {
            (_, long length) = await HashHelpers.Sha256Async(context.Request.BodyReader);
            return length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        });
    }

    /// <summary>
    /// Sends <paramref name="request"/>, one byte a character (Latin-1), then reads the response that must come and
    /// the end of the connection, which must be a clean close.
    /// </summary>
    private static async Task<RawHttpResponse> SendExpectingCloseAsync(RawHttpConnection connection, string request)
    {
        await connection.SendAsync(Encoding.Latin1.GetBytes(request));
        RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
        await connection.ExpectEofAsync();
        return response;
    }

    /// <summary><see cref="SendExpectingCloseAsync"/> on a fresh connection.</summary>
    private static async Task<RawHttpResponse> SendOnNewConnectionExpectingCloseAsync(TestServer server, string request)
    {
        using var connection = await RawHttpConnection.ConnectAsync(server.EndPoint);
        return await SendExpectingCloseAsync(connection, request);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task MaxConcurrentConnectionsRejectsTheSecondConnection(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, WithLimits(l => l.MaxConcurrentConnections = 1));

        using (var first = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await first.SendAsync("GET /id HTTP/1.1\r\nHost: localhost\r\n\r\n");
            RawHttpResponse held = await first.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, held.StatusCode);
            string firstId = held.BodyText;

            // The TCP handshake completes (the kernel accepts), but Kestrel closes the connection
            // without serving it: the client sees the end of the stream (or a reset) and no bytes.
            using (var second = await RawHttpConnection.ConnectAsync(server.EndPoint))
            {
                await second.ExpectEofAsync();
            }
            Assert.Contains(server.Logs.Records, r => r.Message.Contains("rejected", StringComparison.OrdinalIgnoreCase));

            // The held connection is unaffected.
            RawHttpResponse again = await SendExpectingCloseAsync(first, "GET /id HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, again.StatusCode);
            Assert.Equal(firstId, again.BodyText);
        }

        // Once the first connection has ended its slot is released (asynchronously, so a few attempts
        // may still be rejected): a later connection is served.
        bool served = false;
        for (int attempt = 0; attempt < 200 && !served; attempt++)
        {
            using var next = await RawHttpConnection.ConnectAsync(server.EndPoint);
            try
            {
                await next.SendAsync("GET /id HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
                RawHttpResponse response = await next.ReadResponseAsync().WaitAsync(Timeout);
                Assert.Equal(200, response.StatusCode);
                served = true;
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // Rejected: the server closed or reset the connection before answering.
            }
        }
        Assert.True(served, "No connection was served after the first one closed.");

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ContentLengthOverMaxRequestBodySizeGets413(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, WithLimits(l => l.MaxRequestBodySize = 1000));

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            // Within the limit first, on the same connection.
            await connection.SendAsync("POST /consume HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n");
            await connection.SendAsync(new byte[1000]);
            RawHttpResponse ok = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, ok.StatusCode);
            Assert.Equal("1000", ok.BodyText);

            // Only the headers are sent: Kestrel rejects the declared length before reading any of the body.
            RawHttpResponse response = await SendExpectingCloseAsync(connection, "POST /consume HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n");
            Assert.Equal(413, response.StatusCode);
            Assert.Equal("close", response.Header("Connection"));
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ChunkedBodyOverMaxRequestBodySizeGets413(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, WithLimits(l => l.MaxRequestBodySize = 1000));

        string chunk = "320\r\n" + new string('a', 0x320) + "\r\n";
        RawHttpResponse response = await SendOnNewConnectionExpectingCloseAsync(server,
            "POST /consume HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk);
        Assert.Equal(413, response.StatusCode);

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task HeadersOverMaxRequestHeadersTotalSizeGet431(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, WithLimits(l => l.MaxRequestHeadersTotalSize = 2048));

        using (var connection = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            // Just under the limit works...
            await connection.SendAsync($"GET /id HTTP/1.1\r\nHost: localhost\r\nX-Fill: {new string('f', 1500)}\r\n\r\n");
            RawHttpResponse ok = await connection.ReadResponseAsync().WaitAsync(Timeout);
            Assert.Equal(200, ok.StatusCode);

            // ...and well over it is refused.
            RawHttpResponse response = await SendExpectingCloseAsync(connection, $"GET /id HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('b', 3000)}\r\n\r\n");
            Assert.Equal(431, response.StatusCode);
        }

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task RequestLineOverMaxRequestLineSizeGets414(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints, WithLimits(l => l.MaxRequestLineSize = 1024));

        RawHttpResponse response = await SendOnNewConnectionExpectingCloseAsync(server, $"GET /id?q={new string('q', 2000)} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        Assert.Equal(414, response.StatusCode);

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task GarbageGets400ThenClose(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, MapEndpoints);

        (string Garbage, int Status)[] cases =
        [
            ("GARBAGE\r\n\r\n", 400),
            ("\x01\x02\x03 \xff\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
            ("GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        ];
        foreach ((string garbage, int status) in cases)
        {
            RawHttpResponse response = await SendOnNewConnectionExpectingCloseAsync(server, garbage);
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("close", response.Header("Connection"));
        }

        // A good request on a fresh connection is unaffected.
        using (var good = await RawHttpConnection.ConnectAsync(server.EndPoint))
        {
            await good.SendAsync("GET /id HTTP/1.1\r\nHost: localhost\r\n\r\n");
            Assert.Equal(200, (await good.ReadResponseAsync().WaitAsync(Timeout)).StatusCode);
        }

        Assert.Contains(server.Logs.Records, r => r.Message.Contains("Bad request", StringComparison.OrdinalIgnoreCase)
            || r.Exception is Microsoft.AspNetCore.Http.BadHttpRequestException);

        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
