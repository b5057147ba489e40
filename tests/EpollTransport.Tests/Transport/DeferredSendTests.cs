using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// In the inline modes a flush from a thread-pool thread (an HTTP/2 frame writer, a handler resumed after
/// an await) leaves once that thread's work item ends, so a burst of flushes goes out in one sendmsg; in
/// thread-pool mode it does so only while the loop serves several connections, and otherwise leaves from
/// that thread or the loop at once. These tests pin down, on every
/// transport, what neither may cost: the bytes never wait on the flushing thread itself, and a burst
/// arrives whole and in order.
/// </summary>
public class DeferredSendTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task AFlushFromAPoolThreadThatThenBlocksUntilThePeerHasTheBytesStillLeaves(string transport)
    {
        using var peerHasTheBytes = new ManualResetEventSlim();
        var handlerSaw = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<ConnectionContext, Task> handler = async connection =>
        {
            var input = connection.Transport.Input;
            var go = await input.ReadAsync();
            input.AdvanceTo(go.Buffer.End);
            handlerSaw.TrySetResult(await FlushHelloThenBlockOnAPoolThreadAsync(connection, peerHasTheBytes));
            await connection.Transport.Output.WriteAsync("done"u8.ToArray());
        };
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, handler);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(server.EndPoint);
        await client.SendAsync("go"u8.ToArray());
        string hello = await ReadExactlyAsync(client, 5).WaitAsync(Timeout);
        peerHasTheBytes.Set();

        Assert.Equal("hello", hello);
        Assert.True(await handlerSaw.Task.WaitAsync(Timeout));
        Assert.Equal("done", await ReadExactlyAsync(client, 4).WaitAsync(Timeout));
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ABurstOfFlushesFromOnePoolThreadArrivesWholeAndInOrder(string transport)
    {
        const int Flushes = 2000;
        Func<ConnectionContext, Task> handler = async connection =>
        {
            var go = await connection.Transport.Input.ReadAsync();
            connection.Transport.Input.AdvanceTo(go.Buffer.End);
            await Task.Run(async () =>
            {
                for (int i = 0; i < Flushes; i++)
                {
                    await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes($"{i:D5}\n"));
                }
            });
        };
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(transport, handler);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(server.EndPoint);
        await client.SendAsync("go"u8.ToArray());
        string all = await ReadExactlyAsync(client, Flushes * 6).WaitAsync(Timeout);

        string expected = string.Concat(Enumerable.Range(0, Flushes).Select(i => $"{i:D5}\n"));
        Assert.Equal(expected, all);
    }

    [Fact]
    public async Task OnALoopServingSeveralConnectionsAPoolThreadsBurstLeavesInFewSends()
    {
        // Thread-pool mode, one loop: a pool thread outside the connection's dispatch that flushes many
        // times in one work item (an HTTP/2 frame writer's shape) sends once that work item ends.
        const int Flushes = 200;
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(Transports.EpollSingleLoop, RoleHandler(async connection =>
        {
            await Task.Run(() =>
            {
                for (int i = 0; i < Flushes; i++)
                {
                    connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes($"{i:D5}\n")).AsTask().GetAwaiter().GetResult();
                }
            });
        }));
        using Socket burst = await RawClient.ConnectAsync(server.EndPoint);
        using BusyLoop busy = await BusyLoop.StartAsync(server);

        long writesBefore = Writes(server);
        await burst.SendAsync("b"u8.ToArray());
        string all = await ReadExactlyAsync(burst, Flushes * 6).WaitAsync(Timeout);
        long writes = Writes(server) - writesBefore;

        Assert.Equal(string.Concat(Enumerable.Range(0, Flushes).Select(i => $"{i:D5}\n")), all);
        // At once, each flush would be a sendmsg of its own (about 200).
        Assert.True(writes <= Flushes / 10, $"{writes} sendmsg calls for {Flushes} flushes: {RawClient.DescribeLoops(server)}");
    }

    [Fact]
    public async Task OnALoopServingSeveralConnectionsAFlushFromAPoolThreadThatThenBlocksStillLeaves()
    {
        // The send waits for the end of a work item that blocks until the peer has the bytes: another pool
        // worker must take it from the blocked thread's queue.
        using var peerHasTheBytes = new ManualResetEventSlim();
        var handlerSaw = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using TestServer server = await TestServer.StartConnectionHandlerAsync(Transports.EpollSingleLoop, RoleHandler(async connection =>
            handlerSaw.TrySetResult(await FlushHelloThenBlockOnAPoolThreadAsync(connection, peerHasTheBytes))));
        using Socket blocker = await RawClient.ConnectAsync(server.EndPoint);
        using BusyLoop busy = await BusyLoop.StartAsync(server);

        await blocker.SendAsync("b"u8.ToArray());
        string hello = await ReadExactlyAsync(blocker, 5).WaitAsync(Timeout);
        peerHasTheBytes.Set();

        Assert.Equal("hello", hello);
        Assert.True(await handlerSaw.Task.WaitAsync(Timeout));
    }

    /// <summary>
    /// Off the dispatch, on a pool thread: flushes "hello", then blocks that very thread until the client
    /// says it has the bytes. A send that waited for this thread's work item to end, with no other worker
    /// to take it, would wait forever. Returns whether the client said so in time.
    /// </summary>
    private static Task<bool> FlushHelloThenBlockOnAPoolThreadAsync(ConnectionContext connection, ManualResetEventSlim peerHasTheBytes) => Task.Run(() =>
    {
        connection.Transport.Output.WriteAsync("hello"u8.ToArray()).AsTask().GetAwaiter().GetResult();
        return peerHasTheBytes.Wait(Timeout);
    });

    private static long Writes(TestServer server) => RawClient.EpollFactory(server)!.GetLoopCounters().Sum(loop => loop.Writes);

    /// <summary>A connection's first byte picks its role: 'p' echoes every ping back, 'b' runs <paramref name="burst"/>.</summary>
    private static Func<ConnectionContext, Task> RoleHandler(Func<ConnectionContext, Task> burst) => async connection =>
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync();
            if (result.Buffer.IsEmpty)
            {
                return;
            }
            bool isBurst = result.Buffer.FirstSpan[0] == (byte)'b';
            long length = result.Buffer.Length;
            input.AdvanceTo(result.Buffer.End);
            if (isBurst)
            {
                await burst(connection);
                return;
            }
            await connection.Transport.Output.WriteAsync(new byte[length]);
        }
    };

    /// <summary>
    /// Two connections that ping in turn until the loop has seen events from both in its last turns, so it
    /// counts as serving several connections (not a quiet loop), then fall silent: the loop sleeps, its
    /// turn count stands still, and so does that verdict while the test's own connection works.
    /// </summary>
    private sealed class BusyLoop : IDisposable
    {
        private readonly Socket[] _pingers;

        private BusyLoop(Socket[] pingers) => _pingers = pingers;

        public static async Task<BusyLoop> StartAsync(TestServer server)
        {
            var pingers = new Socket[2];
            for (int i = 0; i < pingers.Length; i++)
            {
                pingers[i] = await RawClient.ConnectAsync(server.EndPoint);
            }
            byte[] echo = new byte[1];
            for (int round = 0; round < 2 * EpollTransport.Loops.EpollLoop.QuietTurns; round++)
            {
                foreach (Socket pinger in pingers)
                {
                    await pinger.SendAsync("p"u8.ToArray());
                    Assert.Equal(1, await pinger.ReceiveAsync(echo).WaitAsync(Timeout));
                }
            }
            return new BusyLoop(pingers);
        }

        public void Dispose()
        {
            foreach (Socket pinger in _pingers)
            {
                pinger.Dispose();
            }
        }
    }

    private static async Task<string> ReadExactlyAsync(Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read));
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return Encoding.ASCII.GetString(buffer, 0, read);
    }
}
