using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Hostile;

/// <summary>
/// Connect-and-vanish floods: thousands of clients that connect and leave at once with FIN, with RST,
/// or in the middle of a request's headers or body, a thousand at a time. Nothing stays open, no pool
/// block is lost, no loop is harmed, and a normal client is served throughout.
/// </summary>
public class VanishingClientTests(ITestOutputHelper output)
{
    private const int Waves = 8;
    private const int PerWave = 1000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private enum Exit
    {
        FinAtOnce,
        ResetAtOnce,
        ResetMidHeaders,
        FinMidBody,
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ThousandsOfClientsThatConnectAndVanishLeaveNothingOpen(string transport)
    {
        var open = new OpenConnections();
        await using TestServer server = await HostileServer.StartAsync(transport, open, app => app.MapPost("/upload", async (HttpContext context) =>
        {
            byte[] buffer = new byte[4096];
            try
            {
                while (await context.Request.Body.ReadAsync(buffer) > 0)
                {
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or BadHttpRequestException)
            {
                // The client left mid-body, on purpose.
            }
        }));
        await using NormalClient normal = NormalClient.Start(server);

        int done = 0;
        for (int wave = 0; wave < Waves; wave++)
        {
            await Task.WhenAll(Enumerable.Range(0, PerWave).Select(async i =>
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(server.EndPoint);
                switch ((Exit)(i % 4))
                {
                    case Exit.FinAtOnce:
                        socket.Shutdown(SocketShutdown.Send);
                        break;
                    case Exit.ResetAtOnce:
                        socket.LingerState = new LingerOption(true, 0);
                        break;
                    case Exit.ResetMidHeaders:
                        await socket.SendAsync("GET / HTTP/1.1\r\nHost: te"u8.ToArray());
                        socket.LingerState = new LingerOption(true, 0);
                        break;
                    case Exit.FinMidBody:
                        await socket.SendAsync("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n"u8.ToArray());
                        await socket.SendAsync(new byte[3000]);
                        socket.Shutdown(SocketShutdown.Send);
                        break;
                }
                socket.Close();
                Interlocked.Increment(ref done);
            })).WaitAsync(Timeout);
        }
        Assert.Equal(Waves * PerWave, done);

        await RawClient.WaitUntilAsync(() => open.Count <= 1, TimeSpan.FromSeconds(20), () => $"{open.Count} connections still open");
        output.WriteLine($"{transport}: {done} vanishing clients; {open.Count} connection(s) open after (the normal client's).");
        output.WriteLine(await normal.StopAndCheckAsync(atLeast: 3));
        Assert.DoesNotContain(RawClient.TransportRecordsAboveDebug(server.Logs), r => r.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
