using System.Diagnostics;
using System.Net.Sockets;
using EpollTransport.Interop;
using EpollTransport.Loops;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Xunit;
using static EpollTransport.Tests.Helpers.LoopPlacement;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// Thread-pool mode's quiet loop (<see cref="EpollTransportOptions.InlineWhenQuiet"/>): a request that is
/// all its loop has to do runs on the loop, watched like safe inline; the option turns it off; a
/// connection whose code held the loop too long, or blocked it, goes to the thread pool for good, and the
/// loop's other connections are served meanwhile. One loop, so "another connection of the same loop" is
/// certain. In the handoff collection: these block and time handlers and count handoffs.
/// </summary>
[Collection(HandoffCollection.Name)]
public class QuietLoopTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int Requests = 50;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ALoneKeepAliveConnectionIsServedOnItsLoopUnlessTheOptionIsOff(bool inlineWhenQuiet)
    {
        long violations = FdOwnership.Violations;
        await using TestServer server = await StartAsync(inlineWhenQuiet, app => { });
        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);

        var answers = new List<string>();
        for (int i = 0; i < Requests; i++)
        {
            answers.Add((await RawClient.GetAsync(socket, "/where")).BodyText);
        }
        string seen = string.Join(",", answers);
        long quietRuns = QuietRuns(server);
        if (inlineWhenQuiet)
        {
            // Kestrel starts a connection on the thread pool and a request or two may find the previous
            // dispatch not yet returned; after that, each request is the loop's only work.
            Assert.True(answers.Count(a => a == "loop") >= Requests / 2, seen);
            Assert.True(quietRuns >= answers.Count(a => a == "loop"), $"{quietRuns} quiet runs; {seen}");
        }
        else
        {
            Assert.All(answers, a => Assert.Equal("pool", a));
            Assert.Equal(0, quietRuns);
        }
        Assert.Equal(0, Handoffs(server));
        Assert.Equal(violations, FdOwnership.Violations);
    }

    /// <summary>
    /// A handler that computes (running, not blocked) on a quiet loop keeps it only while nothing else
    /// waits: a request of another connection takes the loop from it at the watchdog's next visit. A
    /// threshold of 1 s keeps the watchdog's other rules out of reach (blocked: 1 s; running: 20 s), so
    /// only "other work waits" can free the loop before the handler's own deadline.
    /// </summary>
    [Fact]
    public async Task AHandlerComputingOnAQuietLoopGivesItUpWhenAnotherConnectionNeedsIt()
    {
        long violations = FdOwnership.Violations;
        var computing = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var otherServed = new ManualResetEventSlim();
        await using TestServer server = await StartAsync(inlineWhenQuiet: true, app => app.MapGet("/compute", () =>
        {
            computing.TrySetResult(OnLoopThread ? "loop" : "pool");
            // Short of the running rule's 20 s: without "other work waits", the other connection would be
            // served only after this handler gave up.
            long deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
            while (!otherServed.IsSet && Stopwatch.GetTimestamp() < deadline)
            {
                Thread.SpinWait(100);
            }
            return otherServed.IsSet ? "computed after the other connection was served" : "the other connection was never served";
        }), threshold: TimeSpan.FromSeconds(1));
        using Socket heavy = await RawClient.ConnectAsync(server.EndPoint);
        await WarmOnLoopAsync(heavy);
        await RawClient.SendAsync(heavy, "GET /compute HTTP/1.1\r\nHost: test\r\n\r\n");
        Assert.Equal("loop", await computing.Task.WaitAsync(Timeout));

        using Socket other = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Contains((await RawClient.GetAsync(other, "/where").WaitAsync(Timeout)).BodyText, new[] { "loop", "pool" });
        otherServed.Set();
        Assert.Equal("computed after the other connection was served", (await RawClient.ReadHttpResponseAsync(heavy).WaitAsync(Timeout)).BodyText);
        Assert.Equal(1, Handoffs(server));

        // The connection that computed runs on the thread pool from then on.
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("pool", (await RawClient.GetAsync(heavy, "/where")).BodyText);
        }
        // A loop is quiet only with one connection: once the heavy one is gone, the other gets it.
        heavy.Close();
        await RawClient.WaitUntilAsync(() => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.ConnectionsCurrent) == 1, Timeout,
            () => RawClient.DescribeLoops(server));
        await WarmOnLoopAsync(other);
        LoopThreads threads = RawClient.EpollFactory(server)!.CurrentLoopGroup!.Threads;
        await RawClient.WaitUntilAsync(() => threads.StuckCount == 0, Timeout, () => $"{threads.StuckCount} thread(s) still stuck");
        Assert.Equal(violations, FdOwnership.Violations);
    }

    [Fact]
    public async Task AHandlerThatBlocksAQuietLoopCostsOneThreadAndTheLoopsOtherConnectionsAreServed()
    {
        long violations = FdOwnership.Violations;
        using var release = new ManualResetEventSlim();
        var blocking = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await StartAsync(inlineWhenQuiet: true, app => app.MapGet("/block", () =>
        {
            blocking.TrySetResult(OnLoopThread ? "loop" : "pool");
            release.Wait(Timeout);
            return "released";
        }));
        using Socket blocker = await RawClient.ConnectAsync(server.EndPoint);
        await WarmOnLoopAsync(blocker);
        await RawClient.SendAsync(blocker, "GET /block HTTP/1.1\r\nHost: test\r\n\r\n");
        Assert.Equal("loop", await blocking.Task.WaitAsync(Timeout));

        // The loop's only thread is blocked in the handler: another connection of the loop is served
        // only because the watchdog gave the loop to a spare thread.
        using Socket other = await RawClient.ConnectAsync(server.EndPoint);
        for (int i = 0; i < 5; i++)
        {
            Assert.Contains((await RawClient.GetAsync(other, "/where").WaitAsync(Timeout)).BodyText, new[] { "loop", "pool" });
        }
        Assert.True(Handoffs(server) >= 1, RawClient.DescribeLoops(server));

        release.Set();
        Assert.Equal("released", (await RawClient.ReadHttpResponseAsync(blocker).WaitAsync(Timeout)).BodyText);
        // The connection that blocked runs on the thread pool from then on.
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("pool", (await RawClient.GetAsync(blocker, "/where")).BodyText);
        }
        LoopThreads threads = RawClient.EpollFactory(server)!.CurrentLoopGroup!.Threads;
        await RawClient.WaitUntilAsync(() => threads.StuckCount == 0, Timeout, () => $"{threads.StuckCount} thread(s) still stuck");
        Assert.Equal(violations, FdOwnership.Violations);
    }

    private static Task<TestServer> StartAsync(bool inlineWhenQuiet, Action<WebApplication> map, TimeSpan? threshold = null)
        => TestServer.StartAsync(Transports.EpollSingleLoop, app =>
        {
            MapWhere(app);
            map(app);
        }, new TestServerOptions
        {
            ConfigureEpoll = o =>
            {
                o.InlineWhenQuiet = inlineWhenQuiet;
                o.InlineStallThreshold = threshold ?? EpollTransportOptions.DefaultInlineStallThreshold;
            },
        });

    private static long QuietRuns(TestServer server) => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.QuietInlineRuns);

    private static long Handoffs(TestServer server) => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.Handoffs);
}
