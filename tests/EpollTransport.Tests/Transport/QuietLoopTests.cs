using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Net.Sockets;
using EpollTransport.Interop;
using EpollTransport.Loops;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;
using static EpollTransport.Tests.Helpers.LoopPlacement;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// Thread-pool mode's quiet loop (<see cref="EpollTransportOptions.InlineWhenQuiet"/>): a request that is
/// all its loop has to do runs on the loop, watched like safe inline; the option turns it off; a
/// connection whose code held the loop too long, or blocked it, goes to the thread pool for good, and the
/// loop's other connections are served meanwhile; and an upload through a bounded read buffer stays on
/// its loop as it pauses and resumes, beside busy neighbours too. One loop, so "another connection of the same loop" is
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

        // It computed (on a CPU for most of the time the watchdog watched it), so it will likely compute
        // again: it runs on the thread pool from then on, even alone on its loop for many more turns
        // than make a loop quiet.
        await AssertRunsOnThePoolAloneAsync(server, heavy, other);
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
        // The connection that blocked runs on the thread pool from then on, even alone on its loop for
        // many more turns than make a loop quiet.
        await AssertRunsOnThePoolAloneAsync(server, blocker, other);
        Assert.Equal(violations, FdOwnership.Violations);
    }

    /// <summary>
    /// A quiet run's flush sends at once, from inside the flush, not when the continuation returns: the
    /// handler flushes a first part and then waits, still on the loop, for the client to say it has
    /// it. Queued for the loop until the continuation returned (as before), the first part would reach
    /// the client only after the handler gave up waiting. A threshold of 1 s keeps the watchdog out of it.
    /// </summary>
    [Fact]
    public async Task AQuietRunsFlushLeavesBeforeItsContinuationReturns()
    {
        long violations = FdOwnership.Violations;
        using var clientHasFirstPart = new ManualResetEventSlim();
        await using TestServer server = await StartAsync(inlineWhenQuiet: true, app => app.MapGet("/flush-then-wait", async (HttpContext context) =>
        {
            bool onLoop = OnLoopThread;
            await context.Response.WriteAsync("first part;");
            await context.Response.Body.FlushAsync();
            // Synchronously, so the continuation (and the loop thread, if it runs there) stays here.
            bool seen = clientHasFirstPart.Wait(TimeSpan.FromMilliseconds(500));
            await context.Response.WriteAsync($"ran on the {(onLoop ? "loop" : "pool")}, the client {(seen ? "had" : "did not have")} the first part");
        }), threshold: TimeSpan.FromSeconds(1));
        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await WarmOnLoopAsync(socket);

        await RawClient.SendAsync(socket, "GET /flush-then-wait HTTP/1.1\r\nHost: test\r\n\r\n");
        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Timeout);
        while (!received.ToString().EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(read > 0, $"The server closed the connection; received: {received}");
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            if (received.ToString().Contains("first part;", StringComparison.Ordinal))
            {
                clientHasFirstPart.Set();
            }
        }
        Assert.Contains("ran on the loop, the client had the first part", received.ToString());
        Assert.Equal(violations, FdOwnership.Violations);
    }

    /// <summary>
    /// An upload through a bounded read buffer pauses the transport at every buffer's worth and resumes
    /// it through the loop's queue once the handler has read. On a quiet loop the read that follows a
    /// resume hands the next chunk to the handler on the loop, so the whole upload stays there; sending
    /// it to the thread pool instead (as before) made every chunk cross two threads, which a busy host
    /// makes slow (issue 27). Every byte is checked on the way.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnUploadThroughABoundedReadBufferStaysOnItsLoopAsItPausesAndResumes(bool busyNeighbours)
    {
        // Beside busy neighbours the loop's thread is preempted now and then in the middle of a chunk,
        // with the upload's next data ready: the watchdog moves the loop, but must not send the upload
        // to the thread pool for good, since the handler neither blocked nor computed.
        int UploadBytes = (busyNeighbours ? 16 : 4) * 1024 * 1024;
        const long ReadBuffer = 16 * 1024;
        long violations = FdOwnership.Violations;
        await using TestServer server = await StartAsync(inlineWhenQuiet: true, app => app.MapPost("/upload", async (HttpContext context) =>
        {
            PipeReader body = context.Request.BodyReader;
            long total = 0;
            int reads = 0, onLoop = 0, wrong = 0;
            while (true)
            {
                ReadResult read = await body.ReadAsync();
                reads++;
                onLoop += OnLoopThread ? 1 : 0;
                foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                {
                    foreach (byte b in segment.Span)
                    {
                        wrong += b == Pattern(total++) ? 0 : 1;
                    }
                }
                body.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    return $"{total} {wrong} {onLoop} {reads}";
                }
            }
        }), maxReadBufferSize: ReadBuffer);
        byte[] upload = new byte[UploadBytes];
        for (int i = 0; i < upload.Length; i++)
        {
            upload[i] = Pattern(i);
        }

        // The handler's first run compiles it (the JIT's first tier), which is computing on the loop while
        // the upload's data waits: the watchdog rightly demotes that connection. So a connection of its own
        // takes that first run, and is gone before the measured one starts.
        using (Socket warmUp = await RawClient.ConnectAsync(server.EndPoint))
        {
            await UploadAsync(warmUp, upload.AsMemory(0, (int)(8 * ReadBuffer)));
        }
        await WaitForConnectionsAsync(server, 0);
        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await WarmOnLoopAsync(socket);
        string reply;
        using (busyNeighbours ? new BusyNeighbours() : null)
        {
            reply = await UploadAsync(socket, upload);
        }

        // "bytes received, bytes wrong, reads on the loop, reads".
        long[] counts = reply.Split(' ').Select(word => long.Parse(word, CultureInfo.InvariantCulture)).ToArray();
        Assert.True(counts.Length == 4 && counts[0] == UploadBytes && counts[1] == 0, reply);
        (long onLoop, long reads) = (counts[2], counts[3]);
        // The buffer pauses the transport a few hundred times. A run the watchdog moved off the loop (a
        // test host preempts threads too) finishes its chunk off it, so "most", not "all".
        Assert.True(reads >= UploadBytes / ReadBuffer / 2 && onLoop * 2 >= reads, $"{reply}; {QuietRuns(server)} quiet runs, {Handoffs(server)} handoffs");
        Assert.Equal(violations, FdOwnership.Violations);
    }

    private static byte Pattern(long offset) => (byte)(offset % 251);

    /// <summary>
    /// Closes <paramref name="other"/> and checks that the demoted connection's requests still run on the
    /// thread pool alone on its loop, for many more turns than make a loop quiet; then that every thread
    /// the handoff left in application code has come back.
    /// </summary>
    private static async Task AssertRunsOnThePoolAloneAsync(TestServer server, Socket demoted, Socket other)
    {
        other.Close();
        await WaitForConnectionsAsync(server, 1);
        for (int i = 0; i < 4 * EpollLoop.QuietTurns; i++)
        {
            Assert.Equal("pool", (await RawClient.GetAsync(demoted, "/where")).BodyText);
        }
        LoopThreads threads = RawClient.EpollFactory(server)!.CurrentLoopGroup!.Threads;
        await RawClient.WaitUntilAsync(() => threads.StuckCount == 0, Timeout, () => $"{threads.StuckCount} thread(s) still stuck");
    }

    private static Task WaitForConnectionsAsync(TestServer server, int count)
        => RawClient.WaitUntilAsync(() => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.ConnectionsCurrent) == count, Timeout,
            () => RawClient.DescribeLoops(server));

    private static async Task<string> UploadAsync(Socket socket, ReadOnlyMemory<byte> body)
    {
        await RawClient.SendAsync(socket, $"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: {body.Length}\r\n\r\n");
        Task send = RawClient.SendAsync(socket, body, Timeout);
        string reply = (await RawClient.ReadHttpResponseAsync(socket, Timeout)).BodyText;
        await send;
        return reply;
    }

    private static Task<TestServer> StartAsync(bool inlineWhenQuiet, Action<WebApplication> map, TimeSpan? threshold = null, long? maxReadBufferSize = null)
        => TestServer.StartAsync(Transports.EpollSingleLoop, app =>
        {
            MapWhere(app);
            map(app);
        }, new TestServerOptions
        {
            MaxReadBufferSize = maxReadBufferSize ?? new TestServerOptions().MaxReadBufferSize,
            ConfigureEpoll = o =>
            {
                o.InlineWhenQuiet = inlineWhenQuiet;
                o.InlineStallThreshold = threshold ?? EpollTransportOptions.DefaultInlineStallThreshold;
            },
        });

    private static long QuietRuns(TestServer server) => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.QuietInlineRuns);

    private static long Handoffs(TestServer server) => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.Handoffs);
}
