using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>Graceful shutdown: in-flight requests finish, idle connections close, the port stops accepting.</summary>
public class ShutdownTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>An endpoint whose handler signals when entered and finishes only when released.</summary>
    private sealed class GatedEndpoint
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<bool> Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public const int BodyLength = 300_000;

        public void Map(WebApplication app)
        {
            app.MapGet("/gated", async (HttpContext context) =>
            {
                Entered.TrySetResult();
                try
                {
                    await Release.Task.WaitAsync(context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    Finished.TrySetResult(false);
                    throw;
                }
                byte[] body = DeterministicData.Create(31, BodyLength);
                context.Response.ContentLength = body.Length;
                // Several writes, so the response is still being sent while the server stops.
                for (int offset = 0; offset < body.Length; offset += 50_000)
                {
                    await context.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(50_000, body.Length - offset)));
                }
                Finished.TrySetResult(true);
            });
            app.MapGet("/", () => "ok");
        }
    }

    /// <summary>Resolves once connecting to the port is refused, which proves the server has closed its listener.</summary>
    private static async Task WaitUntilRefusedAsync(IPEndPoint endPoint)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(endPoint);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                // Refused, or reset because the probe was still queued when the listener closed.
                return;
            }
        }
        throw new TimeoutException("The listener was still accepting connections 10 s into shutdown.");
    }

    private static async Task AssertRefusedAsync(IPEndPoint endPoint)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        SocketException e = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(endPoint).WaitAsync(Timeout));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task InFlightHttp1RequestCompletesDuringGracefulShutdown(string transport)
    {
        var gate = new GatedEndpoint();
        await using var server = await TestServer.StartAsync(transport, gate.Map);
        IPEndPoint endPoint = server.EndPoint;

        using var connection = await RawHttpConnection.ConnectAsync(endPoint);
        await connection.SendAsync("GET /gated HTTP/1.1\r\nHost: localhost\r\n\r\n");
        await gate.Entered.Task.WaitAsync(Timeout);

        var stopwatch = Stopwatch.StartNew();
        Task stop = server.StopAsync();
        await WaitUntilRefusedAsync(endPoint);
        Assert.False(stop.IsCompleted, "StopAsync must wait for the in-flight request.");
        gate.Release.TrySetResult();

        RawHttpResponse response = await connection.ReadResponseAsync().WaitAsync(Timeout);
        Assert.Equal(200, response.StatusCode);
        Assert.Equal(DeterministicData.Create(31, GatedEndpoint.BodyLength), response.Body);
        Assert.True(await gate.Finished.Task.WaitAsync(Timeout));

        // The server does not keep the connection alive past shutdown.
        await connection.ExpectEofAsync();

        await stop.WaitAsync(Timeout);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(8), $"Graceful stop took {stopwatch.Elapsed}; it should not need the shutdown timeout.");
        Assert.DoesNotContain(server.Logs.Records, r => r.EventId.Name == "NotAllConnectionsClosedGracefully");
        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task InFlightHttp2RequestCompletesDuringGracefulShutdown(string transport)
    {
        var gate = new GatedEndpoint();
        await using var server = await TestServer.StartAsync(transport, gate.Map, new TestServerOptions
        {
            ConfigureKestrel = kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2),
        });
        IPEndPoint endPoint = server.EndPoint;

        using HttpClient client = server.CreateClient(HttpVersion.Version20);
        Assert.Equal("ok", await client.GetStringAsync("/").WaitAsync(Timeout));
        Task<HttpResponseMessage> request = client.GetAsync("/gated");
        await gate.Entered.Task.WaitAsync(Timeout);

        Task stop = server.StopAsync();
        await WaitUntilRefusedAsync(endPoint);
        Assert.False(stop.IsCompleted, "StopAsync must wait for the in-flight stream.");
        gate.Release.TrySetResult();

        using HttpResponseMessage response = await request.WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(DeterministicData.Create(31, GatedEndpoint.BodyLength), await response.Content.ReadAsByteArrayAsync().WaitAsync(Timeout));

        await stop.WaitAsync(Timeout);
        Assert.DoesNotContain(server.Logs.Records, r => r.EventId.Name == "NotAllConnectionsClosedGracefully");
        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task NewConnectionsAreRefusedAfterStop(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, new GatedEndpoint().Map);
        IPEndPoint endPoint = server.EndPoint;
        using (HttpClient client = server.CreateClient())
        {
            Assert.Equal("ok", await client.GetStringAsync("/").WaitAsync(Timeout));
        }

        await server.StopAsync().WaitAsync(Timeout);
        await AssertRefusedAsync(endPoint);
        await AssertRefusedAsync(endPoint);
        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task IdleKeepAliveConnectionsAreClosedPromptlyByStop(string transport)
    {
        await using var server = await TestServer.StartAsync(transport, new GatedEndpoint().Map);
        var connections = new List<RawHttpConnection>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                var connection = await RawHttpConnection.ConnectAsync(server.EndPoint);
                connections.Add(connection);
                await connection.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
                Assert.Equal("ok", (await connection.ReadResponseAsync().WaitAsync(Timeout)).BodyText);
            }

            var stopwatch = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(Timeout);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"Stopping with idle connections took {stopwatch.Elapsed}.");

            foreach (RawHttpConnection connection in connections)
            {
                await connection.ExpectEofAsync();
            }
        }
        finally
        {
            connections.ForEach(c => c.Dispose());
        }

        Assert.DoesNotContain(server.Logs.Records, r => r.EventId.Name == "NotAllConnectionsClosedGracefully");
        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task StuckRequestIsAbortedWhenShutdownTimeoutExpires(string transport)
    {
        var gate = new GatedEndpoint();
        await using var server = await TestServer.StartAsync(transport, gate.Map, new TestServerOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(500) });

        using var connection = await RawHttpConnection.ConnectAsync(server.EndPoint);
        await connection.SendAsync("GET /gated HTTP/1.1\r\nHost: localhost\r\n\r\n");
        await gate.Entered.Task.WaitAsync(Timeout);

        // The handler never gets released: the shutdown timeout expires and Kestrel aborts the connection.
        await server.StopAsync().WaitAsync(Timeout);
        Assert.False(await gate.Finished.Task.WaitAsync(Timeout), "The handler should have observed RequestAborted.");

        (RawCloseKind kind, byte[] data) = await connection.ReadToCloseAsync();
        // Kestrel aborts the connection with a reset ("sending RST because ... ShutdownTimeout").
        Assert.Equal(RawCloseKind.Reset, kind);
        Assert.Empty(data);
        Assert.Contains(server.Logs.Records, r => r.EventId.Name == "NotAllConnectionsClosedGracefully");

        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }
}
