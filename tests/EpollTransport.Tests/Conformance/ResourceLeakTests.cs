using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Conformance;

/// <summary>Runs alone, so that descriptor and thread counts are not disturbed by other tests.</summary>
[CollectionDefinition("Serial leak checks", DisableParallelization = true)]
public sealed class SerialLeakChecksCollection
{
}

/// <summary>
/// Many connections come and go; once the server is stopped and disposed, every descriptor, pool block
/// and loop thread it used is gone.
/// </summary>
[Collection("Serial leak checks")]
public class ResourceLeakTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Task ids of this process's threads whose (15-character) name starts with "epoll loop".</summary>
    private static HashSet<string> EpollLoopThreads() => ThreadNames.StartingWith("epoll loop");

    private static Task<TestServer> StartAsync(string transport) => TestServer.StartAsync(transport, app =>
    {
        app.MapGet("/", () => "ok");
        app.MapPost("/upload", async (HttpContext context) =>
        {
            byte[] buffer = new byte[4096];
            try
            {
                while (await context.Request.Body.ReadAsync(buffer) > 0)
                {
                }
            }
            catch (IOException)
            {
                // The client resets mid-body on purpose.
            }
        });
    });

    /// <summary>
    /// Starts and disposes one server first and takes the baseline afterwards, so lazily created runtime
    /// descriptors (the socket engine's epoll fd and pipe, and the like) are already counted.
    /// </summary>
    private static async Task<(DescriptorCensus Fds, HashSet<string> Threads)> WarmUpAndTakeBaselineAsync(string transport)
    {
        await using (var server = await StartAsync(transport))
        {
            using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
            Assert.Equal("ok", (await RawClient.GetAsync(socket)).BodyText);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return (DescriptorCensus.Take(), EpollLoopThreads());
    }

    private async Task AssertNothingLeftAsync(TestServer server, string transport, DescriptorCensus baselineFds, HashSet<string> baselineThreads)
    {
        int port = server.Port;
        await server.DisposeAsync();
        await server.MemoryPool.WhenAllReturnedAsync(SettleTimeout);

        // One exception: in safe inline mode a request that waits in the runtime (a JIT or type-load lock
        // on a loaded two-core runner) can hold its loop past the threshold, and the watchdog's handoff
        // warning (event 38, once per 10 s) is then the designed response, not a leak. It had never shown
        // here because the warning's rate gate never let it through (fixed with WarningGate).
        const int LoopHandoffWarning = 38;
        LogRecord[] loud = RawClient.TransportRecordsAboveDebug(server.Logs).Where(r => r.EventId.Id != LoopHandoffWarning).ToArray();
        Assert.True(loud.Length == 0, "Transport logged above Debug: " + RawClient.Describe(loud));

        // Loop threads end right after StopAsync; give the kernel a bounded moment to reap them.
        HashSet<string> leftover = [];
        await RawClient.WaitUntilAsync(() =>
        {
            leftover = EpollLoopThreads();
            leftover.ExceptWith(baselineThreads);
            return leftover.Count == 0;
        }, SettleTimeout, () => $"epoll loop threads still alive: {string.Join(", ", leftover)}");

        DescriptorCensus fds = DescriptorCensus.Take();
        if (fds.NewSince(baselineFds).Length > 0)
        {
            // Anything only a finalizer would close counts as a leak too, but give it the chance to show.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            fds = DescriptorCensus.Take();
        }
        output.WriteLine($"{transport}: {baselineFds} before, {fds} after (server port {port}); {server.MemoryPool.TotalRented} blocks rented in all.");
        string[] leaked = fds.NewSince(baselineFds);
        Assert.True(leaked.Length == 0, $"{leaked.Length} descriptor(s) opened during the test are still open: {string.Join(", ", leaked.Take(10))}");
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ThousandsOfShortConnectionsLeaveNoDescriptorsBlocksOrThreads(string transport)
    {
        const int cycles = 2000;
        const int workers = 4;
        var (baselineFds, baselineThreads) = await WarmUpAndTakeBaselineAsync(transport);

        var server = await StartAsync(transport);
        int completed = 0;
        try
        {
            await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref completed) <= cycles)
                {
                    using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                    RawResponse response = await RawClient.GetAsync(socket);
                    Assert.Equal("ok", response.BodyText);
                    socket.Close();
                }
            }))).WaitAsync(Timeout);
            Assert.True(server.MemoryPool.TotalRented > 0);
        }
        finally
        {
            await AssertNothingLeftAsync(server, transport, baselineFds, baselineThreads);
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ClientsResettingMidRequestLeaveNothingBehind(string transport)
    {
        const int cycles = 300;
        const int workers = 4;
        var (baselineFds, baselineThreads) = await WarmUpAndTakeBaselineAsync(transport);

        var server = await StartAsync(transport);
        int started = 0;
        try
        {
            await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref started) <= cycles)
                {
                    using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                    await RawClient.SendAsync(socket, "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n");
                    await RawClient.SendAsync(socket, new byte[5000]);
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                }
            }))).WaitAsync(Timeout);

            // The server is still healthy.
            using Socket probe = await RawClient.ConnectAsync(server.EndPoint);
            Assert.Equal("ok", (await RawClient.GetAsync(probe)).BodyText);
        }
        finally
        {
            await AssertNothingLeftAsync(server, transport, baselineFds, baselineThreads);
        }
    }
}
