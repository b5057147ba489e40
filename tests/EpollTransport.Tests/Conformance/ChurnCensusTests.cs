using System.Diagnostics;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Conformance;

/// <summary>
/// 100,000 connections, each one request and gone, then the exact census: every socket, epoll instance,
/// eventfd, pool block and loop thread the server used is gone. Behind the stress switch (about 20 s a
/// transport on 2 cores).
/// </summary>
[Collection("Serial leak checks")]
public class ChurnCensusTests(ITestOutputHelper output)
{
    private const int Connections = 100_000;
    private const int Workers = 8;

    public static TheoryData<string> Compared => new() { Transports.Sockets, Transports.Epoll, Transports.EpollInline };

    [StressTheory]
    [Trait("Category", "Stress")]
    [MemberData(nameof(Compared))]
    public async Task AHundredThousandConnectionsComeAndGoAndLeaveNothing(string transport)
    {
        await using (TestServer warm = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok")))
        {
            using Socket socket = await RawClient.ConnectAsync(warm.EndPoint);
            Assert.Equal("ok", (await RawClient.GetAsync(socket)).BodyText);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        DescriptorCensus baseline = DescriptorCensus.Take();
        int threadsBefore = ThreadNames.StartingWith("epoll ").Count;

        TestServer server = await TestServer.StartAsync(transport, app => app.MapGet("/", () => "ok"));
        int next = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) <= Connections)
                {
                    using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                    Assert.Equal("ok", (await RawClient.GetAsync(socket)).BodyText);
                }
            }))).WaitAsync(TimeSpan.FromMinutes(5));
        }
        finally
        {
            try
            {
                await server.StopAndCheckBlocksReturnedAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                await server.DisposeAsync();
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;

        await RawClient.WaitUntilAsync(() => ThreadNames.StartingWith("epoll ").Count <= threadsBefore, TimeSpan.FromSeconds(10),
            () => $"transport threads left: {ThreadNames.StartingWith("epoll ").Count}");
        string[] leaked = DescriptorCensus.Take().NewSince(baseline);
        if (leaked.Length > 0)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            leaked = DescriptorCensus.Take().NewSince(baseline);
        }
        output.WriteLine($"{transport}: {Connections} connections in {seconds:F1} s ({Connections / seconds:F0}/s); {server.MemoryPool.TotalRented} blocks rented, all returned; {leaked.Length} descriptors left.");
        Assert.True(leaked.Length == 0, $"{leaked.Length} descriptor(s) still open: {string.Join(", ", leaked.Take(10))}");
    }
}
