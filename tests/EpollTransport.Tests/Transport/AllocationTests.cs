using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using EpollTransport.Loops;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>The loop's read, dispatch and send path allocates nothing once warmed up.</summary>
public class AllocationTests
{
    private const int Clients = 16;
    private const int MessageSize = 64;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SteadyStateEchoDoesNotAllocateOnTheLoopThread(bool inline)
    {
        var factory = new EpollTransportFactory(
            Options.Create(new EpollTransportOptions { ThreadCount = 1, UnsafePreferInlineScheduling = inline }),
            NullLoggerFactory.Instance, new RecyclingMemoryPoolFactory());
        IConnectionListener listener = await factory.BindAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var clients = new List<Socket>();
        var echoes = new List<Task>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                clients.Add(await DirectFactory.ConnectAsync(listener));
                ConnectionContext connection = (await listener.AcceptAsync())!;
                echoes.Add(EchoAsync(connection));
            }

            await RoundTripsAsync(clients, 200);
            EpollLoop loop = factory.CurrentLoopGroup!.Loops[0];
            long before = await SettledAllocatedBytesAsync(loop, clients);
            await RoundTripsAsync(clients, 500);
            long after = await SettledAllocatedBytesAsync(loop, clients);

            long perRoundTrip = (after - before) / (Clients * 500);
            Assert.True(after - before < 64 * 1024,
                $"The loop thread allocated {after - before} bytes over {Clients * 500} round trips (~{perRoundTrip} B each).");
        }
        finally
        {
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
            await Task.WhenAll(echoes).WaitAsync(TimeSpan.FromSeconds(10));
            await listener.DisposeAsync();
            factory.Dispose();
        }
    }

    private static async Task EchoAsync(ConnectionContext connection)
    {
        try
        {
            PipeReader input = connection.Transport.Input;
            PipeWriter output = connection.Transport.Output;
            while (true)
            {
                ReadResult result = await input.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    output.Write(segment.Span);
                }
                input.AdvanceTo(result.Buffer.End);
                await output.FlushAsync();
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (ConnectionResetException)
        {
        }
        await connection.DisposeAsync();
    }

    private static async Task RoundTripsAsync(List<Socket> clients, int count)
    {
        await Task.WhenAll(clients.Select(async client =>
        {
            var message = new byte[MessageSize];
            var reply = new byte[MessageSize];
            for (int i = 0; i < count; i++)
            {
                message[0] = (byte)i;
                await client.SendAsync(message);
                int received = 0;
                while (received < MessageSize)
                {
                    int n = await client.ReceiveAsync(reply.AsMemory(received));
                    Assert.True(n > 0, "The echo connection closed early.");
                    received += n;
                }
                Assert.Equal((byte)i, reply[0]);
            }
        })).WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>One more round trip makes the loop finish a turn, so its sampled counter is current.</summary>
    private static async Task<long> SettledAllocatedBytesAsync(EpollLoop loop, List<Socket> clients)
    {
        await RoundTripsAsync(clients.Take(1).ToList(), 1);
        return Volatile.Read(ref loop.Counters.AllocatedBytes);
    }

    /// <summary>A pool that really recycles its pinned 4 KiB blocks, like Kestrel's, so renting does not allocate.</summary>
    private sealed class RecyclingMemoryPoolFactory : IMemoryPoolFactory<byte>
    {
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new Pool();

        private sealed class Pool : MemoryPool<byte>
        {
            private readonly ConcurrentQueue<Block> _blocks = new();

            public override int MaxBufferSize => 4096;

            public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
                => _blocks.TryDequeue(out Block? block) ? block : new Block(this);

            public void Return(Block block) => _blocks.Enqueue(block);

            protected override void Dispose(bool disposing)
            {
            }
        }

        private sealed class Block(Pool pool) : IMemoryOwner<byte>
        {
            private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(4096, pinned: true);

            public Memory<byte> Memory => _array;

            public void Dispose() => pool.Return(this);
        }
    }
}
