using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Hostile;

/// <summary>
/// Hundreds of clients ask for 32 MiB each and never read, while a normal client keeps asking for a
/// small page: its requests must not queue behind the flood's work, whichever thread runs the
/// application. A stress test (hundreds of MiB of kernel socket buffers): EPOLLTRANSPORT_STRESS=1.
/// </summary>
[Trait("Category", "Stress")]
public class NeverReadingFloodTests(ITestOutputHelper output)
{
    private const int Clients = 300;
    private const int ResponseBytes = 32 * 1024 * 1024;
    private const int Chunk = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [StressTheory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ANormalClientIsServedPromptlyBesideThreeHundredNeverReadingDownloads(string transport)
    {
        var open = new OpenConnections();
        int started = 0;
        byte[] chunk = new byte[Chunk];
        await using TestServer server = await HostileServer.StartAsync(transport, open,
            app => app.MapGet("/big", async (HttpContext context) =>
            {
                Interlocked.Increment(ref started);
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
                }
            }));

        var stuck = new List<Socket>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                stuck.Add(socket);
                await RawClient.SendAsync(socket, "GET /big HTTP/1.1\r\nHost: test\r\n\r\n");
            }
            await using NormalClient normal = NormalClient.Start(server);
            await RawClient.WaitUntilAsync(() => Volatile.Read(ref started) == Clients, Timeout, () => $"{started} of {Clients} responses started");
            // Let the flood fill its socket buffers while the normal client keeps asking.
            long until = Environment.TickCount64 + 3000;
            await RawClient.WaitUntilAsync(() => Environment.TickCount64 >= until, Timeout, () => "");
            string result = await normal.StopAndCheckAsync(atLeast: 10, slowestMilliseconds: 500);
            output.WriteLine($"{transport}: {result}");
        }
        finally
        {
            foreach (Socket socket in stuck)
            {
                socket.Dispose();
            }
        }
    }
}
