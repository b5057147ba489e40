using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Hostile;

/// <summary>
/// Clients that ask for a large response and never read it: what each costs the server is bounded by
/// MaxWriteBufferSize (plus the kernel's socket buffers, which are not the server's memory), and
/// Kestrel's MinResponseDataRate closes them; everyone else is served quickly meanwhile.
/// </summary>
public class NeverReadingClientTests(ITestOutputHelper output)
{
    private const int Clients = 32;
    private const int ResponseBytes = 16 * 1024 * 1024;
    private const int Chunk = 64 * 1024;
    private const long MaxWriteBufferSize = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ClientsThatNeverReadCostBoundedMemoryAndTheResponseRateLimitClosesThem(string transport)
    {
        var open = new OpenConnections();
        int started = 0;
        await using TestServer server = await HostileServer.StartAsync(transport, open,
            app => app.MapGet("/big", async (HttpContext context) =>
            {
                Interlocked.Increment(ref started);
                byte[] chunk = new byte[Chunk];
                context.Response.ContentLength = ResponseBytes;
                try
                {
                    for (int sent = 0; sent < ResponseBytes; sent += Chunk)
                    {
                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException)
                {
                    // Kestrel ends the response once the client's rate falls below the minimum.
                }
            }),
            // The rate is checked against everything written so far, and the kernel takes a few MiB of it into
            // the socket buffer at once: a high minimum makes the limit trip within seconds.
            limits => limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 4 * 1024 * 1024, gracePeriod: TimeSpan.FromSeconds(1.5)));
        await using NormalClient normal = NormalClient.Start(server);

        var stuck = new List<Socket>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                stuck.Add(socket);
                await socket.ConnectAsync(server.EndPoint);
                await RawClient.SendAsync(socket, "GET /big HTTP/1.1\r\nHost: test\r\n\r\n");
            }
            await RawClient.WaitUntilAsync(() => Volatile.Read(ref started) == Clients, Timeout, () => $"{started} of {Clients} responses started");

            // Until the rate limit closes them, the server holds at most the write buffer (and the chunk
            // being copied in) per client; the kernel's socket buffers are on top, outside the pool.
            long peakBlocks = 0;
            await RawClient.WaitUntilAsync(() =>
            {
                peakBlocks = Math.Max(peakBlocks, server.MemoryPool.Outstanding);
                return open.Count <= 1;
            }, Timeout, () => $"{open.Count} connections still open");
            long peakBytes = peakBlocks * CountingMemoryPoolFactory.BlockSize;
            long bound = Clients * (MaxWriteBufferSize + Chunk + 64 * 1024);
            output.WriteLine($"{transport}: peak {peakBytes / 1024} KiB of pool memory for {Clients} never-reading clients (bound {bound / 1024} KiB).");
            Assert.True(peakBytes <= bound, $"peak {peakBytes / 1024} KiB of pool memory (bound {bound / 1024} KiB)");

            // Each never-reading client finds its connection ended, short of the full response.
            foreach (Socket socket in stuck)
            {
                (byte[] data, _) = await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
                Assert.True(data.Length < ResponseBytes, $"a never-reading client still got {data.Length} bytes");
            }
        }
        finally
        {
            foreach (Socket socket in stuck)
            {
                socket.Dispose();
            }
        }
        output.WriteLine(await normal.StopAndCheckAsync());
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
