using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Hostile;

/// <summary>
/// A peer that stops acknowledging (its receive window is zero: it reads nothing) while the application
/// keeps writing: FlushAsync waits, nothing grows on the server, and Abort still ends it at once.
/// </summary>
public class ZeroWindowPeerTests(ITestOutputHelper output)
{
    private const int Chunk = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task WhileThePeerAcknowledgesNothingFlushAsyncWaitsNothingGrowsAndAbortEndsItAtOnce(string transport)
    {
        var open = new OpenConnections();
        long written = 0;
        bool flushPending = false;
        long abortCalled = 0;
        var abort = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var appEnded = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await HostileServer.StartAsync(transport, open, app => app.MapGet("/stream", async (HttpContext context) =>
        {
            _ = abort.Task.ContinueWith(_ =>
            {
                Volatile.Write(ref abortCalled, Stopwatch.GetTimestamp());
                context.Abort();
            }, TaskScheduler.Default);
            byte[] chunk = new byte[Chunk];
            try
            {
                while (!context.RequestAborted.IsCancellationRequested)
                {
                    Volatile.Write(ref flushPending, true);
                    FlushResult flushed = await context.Response.BodyWriter.WriteAsync(chunk); // write + flush
                    Volatile.Write(ref flushPending, false);
                    if (flushed.IsCompleted || flushed.IsCanceled)
                    {
                        // The transport ended the stalled flush: that is the moment this test times. Looping
                        // on until RequestAborted fires would time the token's hop through a busy thread
                        // pool instead, while this loop keeps a core spinning on a completed pipe.
                        break;
                    }
                    Volatile.Write(ref written, Volatile.Read(ref written) + Chunk);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
            {
            }
            appEnded.TrySetResult(Stopwatch.GetTimestamp());
        }),
        // Only Abort may end this connection here, not the response-rate limit.
        limits => limits.MinResponseDataRate = null);
        await using NormalClient normal = NormalClient.Start(server);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await peer.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(peer, "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");

        long stalledAt = await RawClient.WaitForStallAsync(() => Volatile.Read(ref written), () => Volatile.Read(ref flushPending),
            TimeSpan.FromMilliseconds(500), Timeout, () => $"the app wrote {Volatile.Read(ref written)} bytes");
        long blocks = server.MemoryPool.Outstanding;
        // Nothing grows while the peer stays silent.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(stalledAt, Volatile.Read(ref written));
        Assert.True(server.MemoryPool.Outstanding <= blocks + 2, $"pool blocks grew from {blocks} to {server.MemoryPool.Outstanding}");
        Assert.False(appEnded.Task.IsCompleted);
        output.WriteLine($"{transport}: the app stalled in FlushAsync after {stalledAt / 1024} KiB (kernel buffers included); {blocks} pool blocks held.");

        long aborted = Stopwatch.GetTimestamp();
        abort.SetResult();
        long ended = await appEnded.Task.WaitAsync(Timeout);
        // Timed from the Abort call itself: the hop that brings the test's signal to the handler's
        // thread is the thread pool's latency, not the transport's.
        double abortMilliseconds = Stopwatch.GetElapsedTime(Volatile.Read(ref abortCalled), ended).TotalMilliseconds;
        double signalMilliseconds = Stopwatch.GetElapsedTime(aborted, Volatile.Read(ref abortCalled)).TotalMilliseconds;
        (byte[] _, SocketException? error) = await RawClient.ReadUntilEndOrErrorAsync(peer, Timeout);
        Assert.Equal(SocketError.ConnectionReset, error?.SocketErrorCode);
        await RawClient.WaitUntilAsync(() => open.Count <= 1, Timeout, () => $"{open.Count} connections still open");
        output.WriteLine($"{transport}: Abort ended the stalled write in {abortMilliseconds:F1} ms (the signal reached the handler's side in {signalMilliseconds:F1} ms); the peer saw a reset.");
        Assert.True(abortMilliseconds < 1000, $"Abort took {abortMilliseconds:F0} ms to end the stalled FlushAsync");
        output.WriteLine(await normal.StopAndCheckAsync(atLeast: 5));
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
    }
}
