using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using EpollTransport.Loops;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace EpollTransport.Tests.Transport;

/// <summary>
/// Without inline scheduling, a flush made while the application answers a batch (it left input
/// unconsumed) is held until its dispatch returns, so the batch leaves in one sendmsg; a dispatch that
/// blocks instead must not keep its bytes from the peer.
/// </summary>
public class HeldSendTests
{
    private const int BatchSize = 8;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Held sends do it for batches dispatched to the thread pool; a quiet loop that runs the batch
    /// itself sends what the continuation queued after it returns, also in one sendmsg.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RepliesToAPipelinedBatchLeaveInOneSend(bool inlineWhenQuiet)
    {
        await using var direct = new DirectFactory(options =>
        {
            options.ThreadCount = 1;
            options.ApplicationSchedulingMode = ApplicationSchedulingMode.ThreadPool;
            options.InlineWhenQuiet = inlineWhenQuiet;
        });
        IConnectionListener listener = await direct.BindLoopbackAsync();
        using Socket client = await DirectFactory.ConnectAsync(listener);
        ConnectionContext connection = (await listener.AcceptAsync())!;
        EpollLoop loop = direct.Factory.CurrentLoopGroup!.Loops[0];
        Task replies = ReplyPerByteAsync(connection, loop);

        var sendsPerBatch = new List<long>();
        for (int batch = 0; batch < 10; batch++)
        {
            byte[] requests = Enumerable.Range(0, BatchSize).Select(i => (byte)(batch * BatchSize + i)).ToArray();
            long writesBefore = Volatile.Read(ref loop.Counters.Writes);
            await client.SendAsync(requests);
            byte[] expected = requests.Select(b => (byte)~b).ToArray();
            Assert.Equal(expected, await ReceiveExactlyAsync(client, BatchSize));
            // The loop counts a send just after the sendmsg whose bytes we already hold: wait for the
            // count to catch up, or a preempted loop thread moves this batch's send into the next one.
            await Helpers.RawSockets.RawClient.WaitUntilAsync(() => Volatile.Read(ref loop.Counters.Writes) > writesBefore, Timeout,
                () => "the loop never counted the send that carried the replies");
            sendsPerBatch.Add(Volatile.Read(ref loop.Counters.Writes) - writesBefore);
        }

        // The first batch may arrive before the handler awaits its first read (then nothing runs in
        // our dispatch); every later one arrives while it waits. A hold the loop had to time out
        // (the dispatching thread preempted for a millisecond) splits a batch, so look for the rule
        // holding in most batches rather than in every one.
        Assert.True(sendsPerBatch.Skip(1).Count(sends => sends == 1) >= 5,
            $"Sends per batch of {BatchSize} replies: {string.Join(", ", sendsPerBatch)}.");

        client.Shutdown(SocketShutdown.Send);
        await replies.WaitAsync(Timeout);
    }

    [Fact]
    public async Task ASendHeldByADispatchThatBlocksStillReachesThePeer()
    {
        await using var direct = new DirectFactory(options =>
        {
            // Held sends exist only where the application runs on the thread pool (a quiet loop would
            // run this handler itself, and the watchdog would free the loop it blocks).
            options.ThreadCount = 1;
            options.ApplicationSchedulingMode = ApplicationSchedulingMode.ThreadPool;
            options.InlineWhenQuiet = false;
        });
        IConnectionListener listener = await direct.BindLoopbackAsync();

        // Each attempt: the handler consumes one of two bytes (so it is mid-batch), replies, flushes,
        // and then blocks its thread until the client has seen the reply. Holding the reply until
        // the dispatch returns would deadlock; the loop's hold timeout must send it. An attempt whose
        // data arrived before the handler awaited its read never holds, hence the retries.
        for (int attempt = 1; ; attempt++)
        {
            long timedOutBefore = HeldSendsTimedOut(direct);
            using Socket client = await DirectFactory.ConnectAsync(listener);
            ConnectionContext connection = (await listener.AcceptAsync())!;
            using var seen = new ManualResetEventSlim();
            var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task handler = Task.Run(() => ReplyThenBlockAsync(connection, reading, seen));

            await reading.Task.WaitAsync(Timeout);
            await client.SendAsync("ab"u8.ToArray());
            byte[] reply = await ReceiveExactlyAsync(client, 1);
            Assert.Equal((byte)'!', reply[0]);
            seen.Set();
            await handler.WaitAsync(Timeout);

            if (HeldSendsTimedOut(direct) > timedOutBefore)
            {
                break;
            }
            Assert.True(attempt < 10, "In 10 attempts the reply was never held by a blocked dispatch.");
        }
    }

    /// <summary>Answers every input byte b with ~b, one AdvanceTo, some work and one flush per byte, like a pipelined server.</summary>
    private static async Task ReplyPerByteAsync(ConnectionContext connection, EpollLoop loop)
    {
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            if (result.Buffer.IsEmpty && result.IsCompleted)
            {
                break;
            }
            byte request = result.Buffer.FirstSpan[0];
            input.AdvanceTo(result.Buffer.GetPosition(1));
            await output.WriteAsync(new[] { (byte)~request });
            GiveTheLoopAChanceToSend(loop);
        }
        await output.CompleteAsync();
        await connection.DisposeAsync();
    }

    /// <summary>
    /// Keeps the dispatch busy after a flush until the loop has sent something or 50 µs have passed, so
    /// a loop woken by every flush shows it by sending replies one by one; a batch of such waits stays
    /// well inside the hold timeout.
    /// </summary>
    private static void GiveTheLoopAChanceToSend(EpollLoop loop)
    {
        long writes = Volatile.Read(ref loop.Counters.Writes);
        long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20_000;
        while (Stopwatch.GetTimestamp() < until && Volatile.Read(ref loop.Counters.Writes) == writes)
        {
            Thread.SpinWait(10);
        }
    }

    private static async Task ReplyThenBlockAsync(ConnectionContext connection, TaskCompletionSource reading, ManualResetEventSlim seen)
    {
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        ValueTask<ReadResult> read = input.ReadAsync();
        reading.SetResult();
        ReadResult result = await read;
        input.AdvanceTo(result.Buffer.GetPosition(1));
        await output.WriteAsync("!"u8.ToArray());
        // A synchronous wait inside the dispatch, for something the peer does after seeing our reply.
        Assert.True(seen.Wait(Timeout), "The client never saw the reply.");
        ReadResult rest = await input.ReadAsync();
        input.AdvanceTo(rest.Buffer.End);
        await output.CompleteAsync();
        await connection.DisposeAsync();
    }

    /// <summary>The public counter behind the epolltransport.held_sends.timed_out instrument.</summary>
    private static long HeldSendsTimedOut(DirectFactory direct) => direct.Factory.GetLoopCounters().Sum(loop => loop.HeldSendsTimedOut);

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        int received = 0;
        while (received < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(received)).AsTask().WaitAsync(Timeout);
            Assert.True(n > 0, $"The connection closed after {received} of {count} bytes.");
            received += n;
        }
        return buffer;
    }
}
