using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Hostile;

/// <summary>
/// Slowloris: clients that trickle their request headers a byte at a time. Kestrel's
/// RequestHeadersTimeout closes each of them; memory stays flat and everyone else is served meanwhile.
/// </summary>
public class SlowlorisTests(ITestOutputHelper output)
{
    private const int Clients = 100;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task HeaderTricklersAreClosedByTheRequestHeadersTimeout(string transport)
    {
        var open = new OpenConnections();
        await using TestServer server = await HostileServer.StartAsync(transport, open, _ => { },
            limits => limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1));
        await using NormalClient normal = NormalClient.Start(server);
        long blocksBefore = server.MemoryPool.Outstanding;

        using var stopTrickling = new CancellationTokenSource();
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                sockets.Add(socket);
                await RawClient.SendAsync(socket, "GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ");
            }
            Task[] tricklers = sockets.Select(socket => Task.Run(async () =>
            {
                byte[] one = "a"u8.ToArray();
                try
                {
                    while (!stopTrickling.IsCancellationRequested)
                    {
                        await Task.Delay(200, stopTrickling.Token);
                        await socket.SendAsync(one);
                    }
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // Closed by the server (or the test is over).
                }
            })).ToArray();

            // Every trickler's connection ends: Kestrel answers 408 and closes, well before the headers end.
            var ends = await Task.WhenAll(sockets.Select(s => RawClient.ReadUntilEndOrErrorAsync(s, Timeout)));
            foreach ((byte[] data, _) in ends)
            {
                string text = Encoding.ASCII.GetString(data);
                Assert.True(data.Length == 0 || text.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), $"a trickler got: {text}");
            }
            await RawClient.WaitUntilAsync(() => open.Count <= 1, Timeout, () => $"{open.Count} connections still open");
            // A trickler holds at most its few header bytes (a block) while open, and nothing once its
            // connection is disposed (which a transport may finish a moment after Kestrel let go of it).
            await RawClient.WaitUntilAsync(() => server.MemoryPool.Outstanding <= blocksBefore + 8, TimeSpan.FromSeconds(10),
                () => $"pool blocks grew from {blocksBefore} to {server.MemoryPool.Outstanding}");
            output.WriteLine($"{transport}: {ends.Count(e => e.Data.Length > 0)} of {Clients} tricklers got a 408; pool blocks {blocksBefore} before, {server.MemoryPool.Outstanding} after.");
            await stopTrickling.CancelAsync();
            await Task.WhenAll(tricklers).WaitAsync(Timeout);
        }
        finally
        {
            foreach (Socket socket in sockets)
            {
                socket.Dispose();
            }
        }
        output.WriteLine(await normal.StopAndCheckAsync());
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
