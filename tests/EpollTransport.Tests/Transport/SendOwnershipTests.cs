using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using EpollTransport.Interop;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// One reader and one sender per connection: the response leaves on the thread that wrote it, and the
/// races that rule invites (a close against a send in flight, EAGAIN against EPOLLOUT, many writers)
/// lose no byte, send into no reused descriptor and leak nothing. Real Kestrel servers, real clients;
/// the ownership guard is on for the whole suite and must refuse nothing here.
/// </summary>
[Collection("Serial leak checks")]
public class SendOwnershipTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ARequestOnOneConnectionWakesTheLoopOnceNotTwice()
    {
        await using TestServer server = await TestServer.StartAsync(Transports.EpollSingleLoop, app => app.MapGet("/", () => "ok"));
        using Socket client = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(client)).BodyText);
        EpollTransportFactory factory = RawClient.EpollFactory(server)!;
        long wakeupsBefore = factory.GetLoopCounters()[0].Wakeups;

        const int Requests = 200;
        for (int i = 0; i < Requests; i++)
        {
            Assert.Equal("ok", (await RawClient.GetAsync(client)).BodyText);
        }

        // Each request wakes the loop for its read; its response leaves on the thread that wrote it.
        // Before, the response's flush woke the sleeping loop a second time to send it.
        long wakeups = factory.GetLoopCounters()[0].Wakeups - wakeupsBefore;
        Assert.True(wakeups < Requests * 1.5, $"{wakeups} loop wake-ups for {Requests} sequential requests");
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task AbortsWhileAnotherThreadSendsLoseNothingAndLeakNothing(string transport)
    {
        long violations = FdOwnership.Violations;
        var aborted = 0;
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, async connection =>
        {
            byte[] chunk = new byte[16 * 1024];
            // The abort comes from another thread while this one may be inside sendmsg.
            _ = Task.Run(async () =>
            {
                await Task.Yield();
                connection.Abort(new ConnectionAbortedException("aborted by the test"));
                Interlocked.Increment(ref aborted);
            });
            try
            {
                for (int i = 0; i < 256; i++)
                {
                    FlushResult result = await connection.Transport.Output.WriteAsync(chunk);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is ConnectionAbortedException or InvalidOperationException or IOException)
            {
            }
        });

        const int Connections = 100;
        await Task.WhenAll(Enumerable.Range(0, Connections).Select(async _ =>
        {
            try
            {
                using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                // Reads until the server's abort ends the connection, whatever arrived before it.
                await RawClient.ReadUntilEndOrErrorAsync(socket, Timeout);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                // The abort's RST can overtake the client's own view of the finished handshake.
            }
        })).WaitAsync(Timeout);

        await RawClient.WaitUntilAsync(() => Volatile.Read(ref aborted) == Connections, Timeout, () => $"{aborted} aborts");
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
        Assert.Equal(violations, FdOwnership.Violations);
        Assert.DoesNotContain(server.Logs.Records, r => RawClient.IsTransportCategory(r.Category) && r.Level >= LogLevel.Error);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task APeerResetInTheMiddleOfALargeSendEndsThatConnectionOnly(string transport)
    {
        long violations = FdOwnership.Violations;
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await TestServer.StartAsync(transport, app =>
        {
            app.MapGet("/", () => "ok");
            app.MapGet("/large", async (HttpContext context) =>
            {
                byte[] chunk = new byte[64 * 1024];
                try
                {
                    for (int i = 0; i < 1024; i++)
                    {
                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                }
                ended.TrySetResult();
            });
        });

        using (Socket client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await RawClient.SendAsync(client, "GET /large HTTP/1.1\r\nHost: test\r\n\r\n");
            byte[] buffer = new byte[256 * 1024];
            int read = 0;
            while (read < buffer.Length)
            {
                read += await client.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None);
            }
            client.LingerState = new LingerOption(true, 0);
        }
        await ended.Task.WaitAsync(Timeout);

        using Socket other = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Equal("ok", (await RawClient.GetAsync(other)).BodyText);
        await server.StopAndCheckBlocksReturnedAsync(Timeout);
        Assert.Equal(violations, FdOwnership.Violations);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ThousandsOfConnectionsClosingWhileTheirHandlersFlushLeaveNothing(string transport)
    {
        long violations = FdOwnership.Violations;
        DescriptorCensus before = DescriptorCensus.Take();
        int handlersEnded = 0;
        await using (TestServer server = await TestServer.StartConnectionHandlerAsync(transport, async connection =>
        {
            // 256 KiB in small flushes: more than the client reads before it leaves, so most of these
            // connections close while their handler is between two flushes or inside one.
            byte[] chunk = new byte[2048];
            try
            {
                for (int i = 0; i < 128 && !(await connection.Transport.Output.WriteAsync(chunk)).IsCompleted; i++)
                {
                }
                await connection.Transport.Output.CompleteAsync();
            }
            catch (Exception ex) when (ex is ConnectionAbortedException or ConnectionResetException or InvalidOperationException or IOException)
            {
            }
            finally
            {
                Interlocked.Increment(ref handlersEnded);
            }
        }))
        {
            const int Connections = 1000;
            await Task.WhenAll(Enumerable.Range(0, Connections).Select(async i =>
            {
                using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
                byte[] buffer = new byte[1024];
                await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (i % 2 == 0)
                {
                    socket.LingerState = new LingerOption(true, 0);
                }
            })).WaitAsync(TimeSpan.FromSeconds(60));

            await RawClient.WaitUntilAsync(() => Volatile.Read(ref handlersEnded) == Connections, Timeout, () => $"{handlersEnded} handlers ended");
            await server.StopAndCheckBlocksReturnedAsync(Timeout);
        }
        Assert.Equal(violations, FdOwnership.Violations);
        await RawClient.WaitUntilAsync(() => DescriptorCensus.Take().NewSince(before).Length == 0, TimeSpan.FromSeconds(10),
            () => string.Join(", ", DescriptorCensus.Take().NewSince(before)));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task FlushesRacingTheWritableEdgeDeliverEveryByteInOrder(string transport)
    {
        const int Length = 16 * 1024 * 1024;
        byte[] payload = RawClient.Payload(24, Length);
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, async connection =>
        {
            // Small flushes, many of them, while the client drains slowly: the socket fills, sends hit
            // EAGAIN, and the next flush comes while the loop is resuming the pump on EPOLLOUT.
            for (int offset = 0; offset < Length; offset += 3000)
            {
                await connection.Transport.Output.WriteAsync(payload.AsMemory(offset, Math.Min(3000, Length - offset)));
            }
            await connection.Transport.Output.CompleteAsync();
        });

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 8 * 1024 };
        await socket.ConnectAsync(server.EndPoint);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[4096];
        long total = 0;
        using var deadline = new CancellationTokenSource(Timeout);
        while (true)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            if (read == 0)
            {
                break;
            }
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        Assert.Equal(Length, total);
        Assert.Equal(SHA256.HashData(payload), hash.GetHashAndReset());
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ManyThreadsFlushingOneConnectionInterleaveNothing(string transport)
    {
        // What HTTP/2 streams and SignalR do: several threads write one connection's output, serialised by
        // a lock as the application must, each flush possibly running the send itself.
        const int Writers = 8;
        const int MessagesPerWriter = 2000;
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, async connection =>
        {
            var gate = new SemaphoreSlim(1, 1);
            await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                for (int m = 0; m < MessagesPerWriter; m++)
                {
                    await gate.WaitAsync();
                    try
                    {
                        byte[] message = BitConverter.GetBytes(w * MessagesPerWriter + m);
                        await connection.Transport.Output.WriteAsync(message);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }
            })));
            await connection.Transport.Output.CompleteAsync();
        });

        using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
        byte[] all = await RawClient.ReadToEndAsync(socket, Timeout);
        Assert.Equal(Writers * MessagesPerWriter * sizeof(int), all.Length);
        var seen = new HashSet<int>();
        var lastPerWriter = new int[Writers];
        Array.Fill(lastPerWriter, -1);
        for (int i = 0; i < all.Length; i += sizeof(int))
        {
            int value = BitConverter.ToInt32(all, i);
            Assert.True(seen.Add(value), $"message {value} arrived twice");
            int writer = value / MessagesPerWriter;
            Assert.True(value % MessagesPerWriter > lastPerWriter[writer], $"writer {writer}'s messages arrived out of order");
            lastPerWriter[writer] = value % MessagesPerWriter;
        }
    }

    [Fact]
    public async Task TheGuardRefusesAReadOrASendFromAnotherThreadAndACloseWithASendInFlight()
    {
        var connected = new TaskCompletionSource<ConnectionContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(Transports.EpollSingleLoop, async connection =>
        {
            connected.TrySetResult(connection);
            await release.Task;
        });
        using Socket client = await RawClient.ConnectAsync(server.EndPoint);
        var connection = (EpollTransport.Connections.EpollConnection)await connected.Task.WaitAsync(Timeout);
        int fd = SocketProbe.ServerSideDescriptor((IPEndPoint)client.LocalEndPoint!);
        long before = FdOwnership.Violations;

        // The test thread neither holds the loop nor runs the pump.
        Assert.Contains("readv", Assert.Throws<InvalidOperationException>(() => FdOwnership.Check(fd, "readv")).Message);
        Assert.Contains("sendmsg", Assert.Throws<InvalidOperationException>(() => FdOwnership.CheckSend(fd, "sendmsg")).Message);

        // On the loop itself, a close is refused while a sender is inside the pump.
        var sendersInside = typeof(EpollTransport.Connections.EpollConnection).GetField("_sendersInside",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        sendersInside.SetValue(connection, 1);
        try
        {
            EpollTransport.Loops.EpollLoop loop = RawClient.EpollFactory(server)!.CurrentLoopGroup!.Loops[0];
            Exception? refused = null;
            await loop.InvokeAsync(() =>
            {
                try
                {
                    FdOwnership.CheckClose(fd);
                }
                catch (InvalidOperationException ex)
                {
                    refused = ex;
                }
            });
            Assert.NotNull(refused);
            Assert.Contains("send may be in flight", refused!.Message);
        }
        finally
        {
            sendersInside.SetValue(connection, 0);
        }
        Assert.Equal(before + 3, FdOwnership.Violations);
        release.TrySetResult();
    }
}
