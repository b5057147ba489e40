using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>What Kestrel expects of a ConnectionContext, checked on epoll connections directly.</summary>
public class ConnectionContractTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AbortIsThreadSafeIdempotentAndSendsReset()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket client = await DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionClosed.Register(() => closed.TrySetResult());

        using var start = new Barrier(8);
        var aborters = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
        {
            start.SignalAndWait();
            connection.Abort(new ConnectionAbortedException($"abort {i}"));
            connection.Abort();
        })).ToArray();
        await Task.WhenAll(aborters).WaitAsync(Timeout);

        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            var buffer = new byte[16];
            while (await client.ReceiveAsync(buffer) > 0)
            {
            }
        });
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        await closed.Task.WaitAsync(Timeout);

        // The input completes with the abort reason, as with Sockets.
        await Assert.ThrowsAsync<ConnectionAbortedException>(async () => await connection.Transport.Input.ReadAsync());
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task AbortWithoutReasonSendsFinAfterNothingElse()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket client = await DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;

        connection.Abort(null!);

        Assert.Equal(0, await client.ReceiveAsync(new byte[16].AsMemory()).AsTask().WaitAsync(Timeout));
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task ConnectionClosedFiresOnTheThreadPoolNotTheLoop()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket client = await DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        var firedOn = new TaskCompletionSource<(bool IsPool, string? Name)>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionClosed.Register(() => firedOn.TrySetResult((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name)));

        client.Shutdown(SocketShutdown.Send);

        var (isPool, name) = await firedOn.Task.WaitAsync(Timeout);
        Assert.True(isPool, $"ConnectionClosed ran on '{name}'");
        ReadResult result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.True(result.IsCompleted);
        Assert.True(result.Buffer.IsEmpty);
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(0, await client.ReceiveAsync(new byte[16].AsMemory()).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task DisposeCompletesTheOriginalPipesWhenTransportWasReplaced()
    {
        await using var transport = new DirectFactory();
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket client = await DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        var replacement = new Pipe();
        IDuplexPipe original = connection.Transport;
        connection.Transport = new ReplacementPipe(replacement.Reader, new Pipe().Writer);

        await original.Output.WriteAsync("bye"u8.ToArray());
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);

        var received = new byte[16];
        int total = 0, read;
        while ((read = await client.ReceiveAsync(received.AsMemory(total)).AsTask().WaitAsync(Timeout)) > 0)
        {
            total += read;
        }
        Assert.Equal("bye"u8.ToArray(), received[..total]);
        // Had DisposeAsync completed the replacement's reader, this flush would report completion.
        FlushResult flush = await replacement.Writer.WriteAsync("x"u8.ToArray());
        Assert.False(flush.IsCompleted);
        await listener.DisposeAsync();
        await transport.MemoryPool.WhenAllReturnedAsync(Timeout);
    }

    [Fact]
    public async Task AFailureWhileHandlingOneConnectionAbortsOnlyThatConnection()
    {
        const string Poison = "poison";
        await using var transport = new DirectFactory(o =>
        {
            o.ThreadCount = 1;
            o.Hooks = new TestHooks
            {
                ConnectionEvents = c =>
                {
                    if (c.Items.ContainsKey(Poison))
                    {
                        throw new InvalidOperationException("injected failure");
                    }
                },
            };
        });
        IConnectionListener listener = await transport.BindLoopbackAsync();
        using Socket healthyClient = await DirectFactory.ConnectAsync(listener);
        ConnectionContext healthy = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        using Socket poisonedClient = await DirectFactory.ConnectAsync(listener);
        ConnectionContext poisoned = (await listener.AcceptAsync().AsTask().WaitAsync(Timeout))!;
        poisoned.Items[Poison] = true;

        await poisonedClient.SendAsync("x"u8.ToArray());
        var failure = await Assert.ThrowsAsync<ConnectionAbortedException>(async () =>
        {
            while (true)
            {
                ReadResult result = await poisoned.Transport.Input.ReadAsync().AsTask().WaitAsync(Timeout);
                poisoned.Transport.Input.AdvanceTo(result.Buffer.End);
                Assert.False(result.IsCompleted, "The input must fail, not end cleanly.");
            }
        });
        Assert.IsType<InvalidOperationException>(failure.InnerException);

        // The same loop keeps serving the healthy connection and accepting new ones.
        await healthyClient.SendAsync("still here"u8.ToArray());
        ReadResult healthyRead = await healthy.Transport.Input.ReadAtLeastAsync(10).AsTask().WaitAsync(Timeout);
        Assert.Equal("still here"u8.ToArray(), healthyRead.Buffer.ToArray());
        healthy.Transport.Input.AdvanceTo(healthyRead.Buffer.End);
        using Socket later = await DirectFactory.ConnectAsync(listener);
        Assert.NotNull(await listener.AcceptAsync().AsTask().WaitAsync(Timeout));
    }

    private sealed class ReplacementPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
