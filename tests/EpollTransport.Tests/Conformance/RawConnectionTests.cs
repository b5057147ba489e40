using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using EpollTransport.Tests.Helpers.RawSockets;
using EpollTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Conformance;

/// <summary>Raw ConnectionHandler traffic: the transport's pipes carry exactly the bytes of each socket.</summary>
public class RawConnectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>Echoes input to output until the input completes, then completes the output (FIN).</summary>
    private static async Task EchoAsync(ConnectionContext context)
    {
        PipeReader input = context.Transport.Input;
        PipeWriter output = context.Transport.Output;
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            ReadOnlySequence<byte> buffer = result.Buffer;
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                await output.WriteAsync(segment);
            }
            input.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                break;
            }
        }
        await input.CompleteAsync();
        await output.CompleteAsync();
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ConcurrentEchoClientsEachGetExactlyTheirOwnBytes(string transport)
    {
        const int clientCount = 300;
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, EchoAsync);
        var progress = new ClientProgress[clientCount];

        async Task RunClientAsync(int index)
        {
            ClientProgress state = progress[index] = new ClientProgress();
            int length = 16 * 1024 + (int)((uint)(index * 7919) % (48 * 1024));
            byte[] payload = RawClient.Payload(index, length);
            state.Length = length;
            using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
            state.Connected = true;
            Task<byte[]> echo = ReadEchoAsync(socket, state);

            // Several writes of uneven sizes, then FIN.
            int offset = 0;
            int chunk = 1000 + index % 5000;
            while (offset < length)
            {
                int size = Math.Min(chunk, length - offset);
                await RawClient.SendAsync(socket, payload.AsMemory(offset, size), Timeout);
                offset += size;
                state.Sent = offset;
                chunk = chunk * 2 + 17;
            }
            socket.Shutdown(SocketShutdown.Send);
            state.FinSent = true;

            byte[] received = await echo;
            state.Done = true;
            if (!received.AsSpan().SequenceEqual(payload))
            {
                int firstDifference = 0;
                while (firstDifference < Math.Min(received.Length, payload.Length) && received[firstDifference] == payload[firstDifference])
                {
                    firstDifference++;
                }
                Assert.Fail($"Client {index}: sent {payload.Length} bytes, got {received.Length} back; first difference at byte {firstDifference}.");
            }
        }

        Task all = Task.WhenAll(Enumerable.Range(0, clientCount).Select(i => Task.Run(() => RunClientAsync(i))));
        try
        {
            await all.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            ClientProgress[] stuck = progress.Where(p => p is not null && !p.Done).ToArray();
            Assert.Fail($"{stuck.Length} of {clientCount} clients did not finish within {Timeout}. Stuck clients (length/sent/received/finSent): "
                + string.Join(", ", stuck.Take(20).Select(p => $"{p.Length}/{p.Sent}/{p.Received}/{p.FinSent}"))
                + $"; never connected: {progress.Count(p => p is null || !p.Connected)}. Transport events: "
                + RawClient.CountTransportEvents(server.Logs) + "; done: " + progress.Count(p => p is not null && p.Done)
                + "; loops: " + RawClient.DescribeLoops(server));
        }

        await server.StopAsync();
        await server.MemoryPool.WhenAllReturnedAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task<byte[]> ReadEchoAsync(Socket socket, ClientProgress state)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var result = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        while (true)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                return result.ToArray();
            }
            result.Write(buffer, 0, read);
            state.Received = result.Length;
        }
    }

    private sealed class ClientProgress
    {
        public volatile bool Connected;
        public volatile bool FinSent;
        public volatile bool Done;
        public int Length;
        public long Sent;
        public long Received;
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ConnectionContextReportsTheSocketsEndPointsAndDistinctIds(string transport)
    {
        var seen = new TaskCompletionSource<(string Id, EndPoint? Local, EndPoint? Remote)>[3];
        for (int i = 0; i < seen.Length; i++)
        {
            seen[i] = new TaskCompletionSource<(string, EndPoint?, EndPoint?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        int next = -1;
        await using var server = await TestServer.StartConnectionHandlerAsync(transport, async context =>
        {
            seen[Interlocked.Increment(ref next)].TrySetResult((context.ConnectionId, context.LocalEndPoint, context.RemoteEndPoint));
            await EchoAsync(context);
        });

        var ids = new HashSet<string>();
        for (int i = 0; i < seen.Length; i++)
        {
            using Socket socket = await RawClient.ConnectAsync(server.EndPoint);
            var (id, local, remote) = await seen[i].Task.WaitAsync(Timeout);
            Assert.Equal(socket.RemoteEndPoint, local);
            Assert.Equal(socket.LocalEndPoint, remote);
            Assert.False(string.IsNullOrEmpty(id));
            Assert.True(ids.Add(id), $"Connection id {id} was handed out twice.");
            socket.Shutdown(SocketShutdown.Send);
            Assert.Empty(await RawClient.ReadToEndAsync(socket, Timeout));
        }
    }
}
