using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using EpollTransport.Interop;

namespace EpollTransport.Micro;

/// <summary>
/// The input path: <see cref="SocketFd.Receive"/> (one <c>readv</c> into a 4 KiB pipe block plus the
/// loop's spill buffer, as <c>EpollConnection.OnReadable</c> does) against
/// <see cref="Socket.Receive(Span{byte}, SocketFlags, out SocketError)"/> into one buffer, for messages
/// of 64 B, 4 KiB and 64 KiB waiting in the socket.
/// </summary>
/// <remarks>
/// Each invocation first pre-fills the socket with <see cref="Batch"/> messages in one raw send, then
/// receives them one message per call. The buffers handed to each call are cut to the message size
/// (the block part first, then the spill), so one call returns one message and the stream stays
/// aligned; 64 KiB therefore fills the block and 60 KiB of spill, which is the case the spill exists
/// for. The pre-fill's cost, shared by the messages of the batch, is in both methods' numbers: compare
/// the two methods, not the absolute values with a send-free receive.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(MicroConfig))]
public class ReceivePathBenchmarks
{
    private const int Batch = 16;
    private const int BlockSize = 4096;
    private const int SpillSize = 64 * 1024;

    private LoopbackPair _pair = null!;
    private byte[] _fill = null!;
    private byte[] _block = null!;
    private byte[] _spill = null!;
    private byte[] _contiguous = null!;
    private long _fdShortReads;
    private long _socketShortReads;

    /// <summary>Bytes per message (per receive call).</summary>
    [Params(64, 4096, 65536)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // 2 MiB requested (4 MiB granted): a batch of 16 × 64 KiB must fit unread in the receiver.
        _pair = LoopbackPair.Create(2 * 1024 * 1024);
        _fill = new byte[Batch * Size];
        new Random(1).NextBytes(_fill);
        // Pinned like the pool block and the loop's spill buffer, so the memory is what readv sees in production.
        _block = GC.AllocateArray<byte>(BlockSize, pinned: true);
        _spill = GC.AllocateArray<byte>(SpillSize, pinned: true);
        _contiguous = GC.AllocateArray<byte>(BlockSize + SpillSize, pinned: true);

        SocketFdReceive();
        SocketReceive();
        _fdShortReads = 0;
        _socketShortReads = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // A short read means a message was still in flight on loopback; a few are harmless, many would
        // mean the numbers include waiting, so say how many there were.
        Console.WriteLine($"// ReceivePathBenchmarks Size={Size}: short reads: SocketFdReceive {_fdShortReads}, SocketReceive {_socketShortReads}");
        _pair.Dispose();
    }

    /// <summary>The transport's receive: readv into block + spill.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long SocketFdReceive()
    {
        Fill();
        Span<byte> block = _block.AsSpan(0, Math.Min(Size, BlockSize));
        Span<byte> spill = _spill.AsSpan(0, Size - block.Length);
        long total = 0;
        for (int i = 0; i < Batch; i++)
        {
            nint received = _pair.ServerFd.Receive(block, spill, out Errno errno);
            total += received > 0 ? received : 0;
            if (received != Size)
            {
                _fdShortReads++;
                total += FinishMessage(received, errno);
            }
        }
        return total;
    }

    /// <summary>The BCL's receive into one buffer of the same size.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public long SocketReceive()
    {
        Fill();
        Span<byte> buffer = _contiguous.AsSpan(0, Size);
        long total = 0;
        for (int i = 0; i < Batch; i++)
        {
            int received = _pair.Server.Receive(buffer, SocketFlags.None, out SocketError error);
            if (error != SocketError.Success && error != SocketError.WouldBlock)
            {
                throw new SocketException((int)error);
            }
            total += received;
            if (received != Size)
            {
                _socketShortReads++;
                total += FinishMessage(error == SocketError.WouldBlock ? -1 : received, Errno.EAGAIN);
            }
        }
        return total;
    }

    private void Fill()
    {
        ReadOnlySpan<byte> remaining = _fill;
        while (!remaining.IsEmpty)
        {
            nint sent = _pair.ClientFd.Send(remaining, out Errno errno);
            if (sent < 0)
            {
                // Nothing reads while we fill: EAGAIN means the batch does not fit the socket buffers.
                throw errno.ToSocketException("send (pre-fill)");
            }
            remaining = remaining[(int)sent..];
        }
    }

    /// <summary>The rare slow path: the rest of a message that had not all arrived; returns the bytes read here.</summary>
    private long FinishMessage(nint firstResult, Errno errno)
    {
        if (firstResult == 0)
        {
            throw new InvalidOperationException("The peer closed the loopback connection.");
        }
        if (firstResult < 0 && errno != Errno.EAGAIN)
        {
            throw errno.ToSocketException("readv");
        }
        long missing = Size - Math.Max(0, firstResult);
        long read = 0;
        while (read < missing)
        {
            nint received = _pair.ServerFd.Receive(_spill.AsSpan(0, (int)(missing - read)), default, out Errno next);
            if (received > 0)
            {
                read += received;
            }
            else if (received == 0 || next != Errno.EAGAIN)
            {
                throw next.ToSocketException("readv");
            }
        }
        return read;
    }
}
