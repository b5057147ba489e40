using System.Net.Sockets;
using System.Text;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// In the inline modes a flush from a thread-pool thread (an HTTP/2 frame writer, a handler resumed after
/// an await) leaves once that thread's work item ends, so a burst of flushes goes out in one sendmsg; in
/// thread-pool mode it leaves from that thread or the loop at once. These tests pin down, on every
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
            // Off the dispatch, on a pool thread: flush, then block that very thread until the client
            // says it has the bytes. A send that waited for this thread's work item to end would wait forever.
            bool seen = await Task.Run(() =>
            {
                connection.Transport.Output.WriteAsync("hello"u8.ToArray()).AsTask().GetAwaiter().GetResult();
                return peerHasTheBytes.Wait(Timeout);
            });
            handlerSaw.TrySetResult(seen);
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
