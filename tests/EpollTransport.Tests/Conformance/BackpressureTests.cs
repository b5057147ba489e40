using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using EpollTransport.Tests.Helpers;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Xunit;
using Xunit.Abstractions;

namespace EpollTransport.Tests.Conformance;

/// <summary>
/// MaxReadBufferSize and MaxWriteBufferSize bound what a connection buffers: a slow application stops
/// the socket (the kernel's window then stops the peer) and nothing is lost once it catches up.
/// </summary>
public class BackpressureTests(ITestOutputHelper output)
{
    private const int BufferLimit = 64 * 1024;
    private const int Total = 32 * 1024 * 1024;
    private const int BlockSize = 4096;

    /// <summary>
    /// Pool blocks one paused connection may hold: the transport's buffer limit plus one read or write
    /// beyond it, plus Kestrel's own request/response buffers.
    /// </summary>
    private const long MaxOutstandingBlocks = 3 * BufferLimit / BlockSize + 16;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    private static readonly Lazy<byte[]> s_payload = new(() => RawClient.Payload(1234, Total));

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SlowRequestBodyReaderPausesTheSocketAndLosesNothing(string transport)
    {
        byte[] payload = s_payload.Value;
        var requestArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new TestServerOptions { MaxReadBufferSize = BufferLimit };
        await using var server = await TestServer.StartAsync(transport, app => app.MapPost("/upload", async (HttpContext context) =>
        {
            context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;
            requestArrived.TrySetResult();
            await release.Task;

            (string hex, long count) = await HashHelpers.Sha256Async(context.Request.BodyReader);
            await context.Response.WriteAsync($"{count}:{hex.ToUpperInvariant()}");
        }), options);

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, $"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: {Total}\r\n\r\n");
        await requestArrived.Task.WaitAsync(Timeout);

        long sent = 0;
        bool sendPending = false;
        Task sending = Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(Timeout * 2);
            for (int offset = 0; offset < Total;)
            {
                Volatile.Write(ref sendPending, true);
                int n = await socket.SendAsync(payload.AsMemory(offset, Math.Min(BufferLimit, Total - offset)), SocketFlags.None, cts.Token);
                Volatile.Write(ref sendPending, false);
                offset += n;
                Volatile.Write(ref sent, offset);
            }
        });

        string category = RawClient.TransportCategory(transport);
        await RawClient.WaitForLogAsync(server.Logs, r => r.Category == category && r.EventId.Id == 4, Timeout);
        long stalledAt = await RawClient.WaitForStallAsync(() => Volatile.Read(ref sent), () => Volatile.Read(ref sendPending), Quiet, Timeout,
            () => $"sent {Volatile.Read(ref sent)} of {Total}");

        Assert.False(sending.IsCompleted, "The whole body was sent although the application read none of it.");
        Assert.True(stalledAt < Total / 2, $"The client could send {stalledAt} of {Total} bytes before the transport pushed back.");
        long outstanding = server.MemoryPool.Outstanding;
        output.WriteLine($"{transport}: the client stalled after sending {stalledAt} bytes; {outstanding} pool blocks outstanding.");
        Assert.True(outstanding <= MaxOutstandingBlocks, $"{outstanding} pool blocks are held by a paused connection (bound {MaxOutstandingBlocks}).");

        release.TrySetResult();
        await sending.WaitAsync(Timeout);
        RawResponse response = await RawClient.ReadHttpResponseAsync(socket, Timeout);
        Assert.Equal(200, response.StatusCode);
        Assert.Equal($"{Total}:{Convert.ToHexString(SHA256.HashData(payload))}", response.BodyText);
        Assert.Contains(server.Logs.Records, r => r.Category == category && r.EventId.Id == 5);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SlowResponseReaderMakesFlushAsyncWaitAndLosesNothing(string transport)
    {
        byte[] payload = s_payload.Value;
        const int Chunk = 16 * 1024;
        long written = 0;
        bool flushPending = false;
        long pendingFlushes = 0;
        var appDone = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new TestServerOptions { MaxWriteBufferSize = BufferLimit };
        await using var server = await TestServer.StartAsync(transport, app => app.MapGet("/download", async (HttpContext context) =>
        {
            try
            {
                context.Response.ContentLength = Total;
                PipeWriter writer = context.Response.BodyWriter;
                for (int offset = 0; offset < Total; offset += Chunk)
                {
                    // Block-sized pieces, so the pipe takes its memory from the (counting) pool.
                    for (int piece = 0; piece < Chunk; piece += BlockSize)
                    {
                        payload.AsSpan(offset + piece, BlockSize).CopyTo(writer.GetSpan(BlockSize));
                        writer.Advance(BlockSize);
                    }
                    ValueTask<FlushResult> flush = writer.FlushAsync();
                    if (!flush.IsCompleted)
                    {
                        Interlocked.Increment(ref pendingFlushes);
                        Volatile.Write(ref flushPending, true);
                    }
                    await flush;
                    Volatile.Write(ref flushPending, false);
                    Volatile.Write(ref written, offset + Chunk);
                }
                appDone.TrySetResult(null);
            }
            catch (Exception ex)
            {
                appDone.TrySetResult(ex);
            }
        }), options);

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        await RawClient.SendAsync(socket, "GET /download HTTP/1.1\r\nHost: test\r\n\r\n");

        // The client reads nothing: the application must end up parked in FlushAsync.
        long stalledAt = await RawClient.WaitForStallAsync(() => Volatile.Read(ref written), () => Volatile.Read(ref flushPending), Quiet, Timeout,
            () => $"the app wrote {Volatile.Read(ref written)} of {Total} bytes; flush pending: {Volatile.Read(ref flushPending)}");

        Assert.False(appDone.Task.IsCompleted, "The application wrote the whole response although the client read none of it.");
        Assert.True(stalledAt < Total / 2, $"The application could write {stalledAt} of {Total} bytes before FlushAsync pushed back.");
        Assert.True(Interlocked.Read(ref pendingFlushes) > 0);
        long outstanding = server.MemoryPool.Outstanding;
        output.WriteLine($"{transport}: the app stalled after writing {stalledAt} bytes; {outstanding} pool blocks outstanding.");
        Assert.True(outstanding <= MaxOutstandingBlocks, $"{outstanding} pool blocks are held by a connection waiting for its peer (bound {MaxOutstandingBlocks}).");

        RawResponse response = await RawClient.ReadHttpResponseAsync(socket, Timeout);
        Assert.Equal(200, response.StatusCode);
        Assert.Equal(Total, response.Body.Length);
        Assert.True(response.Body.AsSpan().SequenceEqual(payload), "The response body differs from what the application wrote.");
        Assert.Null(await appDone.Task.WaitAsync(Timeout));
    }
}
