using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using EpollTransport.Interop;

namespace EpollTransport.Micro;

/// <summary>
/// The output path: one <see cref="GatherSender.Send"/> (a single <c>sendmsg</c> over up to 64 iovecs)
/// of a pipe's worth of 4 KiB blocks, against one <see cref="Socket.Send(ReadOnlySpan{byte}, SocketFlags, out SocketError)"/>
/// of the same bytes already contiguous. Each operation sends everything and then drains the peer
/// completely, so every iteration starts from empty socket buffers; the drain (raw <c>readv</c>, the
/// same for both methods) is part of every number, and the difference between the two methods is the
/// send side alone.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(MicroConfig))]
public class SendPathBenchmarks
{
    /// <summary>Kestrel's pinned pool block size: what each pipe segment is.</summary>
    private const int BlockSize = 4096;

    private LoopbackPair _pair = null!;
    private GatherSender _gather = null!;
    private ReadOnlySequence<byte> _sequence;
    private byte[] _contiguous = null!;
    private byte[] _drainBuffer = null!;

    /// <summary>Bytes sent and not yet drained from the peer.</summary>
    private long _inFlight;

    /// <summary>Sends refused with EAGAIN (socket buffers full), per method: each costs a drain and a retry.</summary>
    private long _gatherWouldBlock;
    private long _socketWouldBlock;

    /// <summary>Drain attempts that found nothing yet (loopback delivery trailing the send): spinning, in the numbers.</summary>
    private long _emptyDrains;

    /// <summary>Pipe segments per send: 1 (a small response), 4, 16, 64 (<see cref="GatherSender.MaxSegments"/>, 256 KiB).</summary>
    [Params(1, 4, 16, 64)]
    public int Segments { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // 1 MiB requested (the kernel doubles it): a 256 KiB send normally goes out in one call.
        _pair = LoopbackPair.Create(1024 * 1024);
        _gather = new GatherSender();
        _contiguous = GC.AllocateArray<byte>(Segments * BlockSize, pinned: true);
        new Random(1).NextBytes(_contiguous);

        // Separate pinned blocks, as the pinned block pool hands out; CreateFromPinnedArray marks them
        // pre-pinned, so GatherSender's Memory.Pin() takes no GCHandle — as with Kestrel's pool blocks.
        BlockSegment? first = null;
        BlockSegment? last = null;
        for (int i = 0; i < Segments; i++)
        {
            byte[] block = GC.AllocateArray<byte>(BlockSize, pinned: true);
            _contiguous.AsSpan(i * BlockSize, BlockSize).CopyTo(block);
            last = new BlockSegment(MemoryMarshal.CreateFromPinnedArray(block, 0, BlockSize), last);
            first ??= last;
        }
        _sequence = new ReadOnlySequence<byte>(first!, 0, last!, BlockSize);
        _drainBuffer = new byte[2 * 1024 * 1024];

        GatherSend();
        SocketSend();
        _gatherWouldBlock = 0;
        _socketWouldBlock = 0;
        _emptyDrains = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Expected 0: the buffers are sized so that one send takes everything; more would mean extra syscalls in the numbers.
        Console.WriteLine($"// SendPathBenchmarks Segments={Segments}: EAGAIN sends: GatherSend {_gatherWouldBlock}, SocketSend {_socketWouldBlock}; empty drains {_emptyDrains}");
        _gather.Dispose();
        _pair.Dispose();
    }

    /// <summary>The transport's send: one sendmsg gathering every segment (one send() when there is only one).</summary>
    [Benchmark]
    public long GatherSend()
    {
        ReadOnlySequence<byte> remaining = _sequence;
        while (!remaining.IsEmpty)
        {
            nint sent = _gather.Send(_pair.ClientFd, remaining, out Errno errno);
            if (sent > 0)
            {
                _inFlight += sent;
                remaining = remaining.Slice(sent);
            }
            else if (errno == Errno.EAGAIN)
            {
                _gatherWouldBlock++;
                DrainSome();
            }
            else
            {
                throw errno.ToSocketException("sendmsg");
            }
        }
        return DrainAll();
    }

    /// <summary>The BCL's send of the same bytes from one contiguous buffer.</summary>
    [Benchmark(Baseline = true)]
    public long SocketSend()
    {
        ReadOnlySpan<byte> remaining = _contiguous;
        while (!remaining.IsEmpty)
        {
            int sent = _pair.Client.Send(remaining, SocketFlags.None, out SocketError error);
            if (sent > 0)
            {
                _inFlight += sent;
                remaining = remaining[sent..];
            }
            else if (error == SocketError.WouldBlock)
            {
                _socketWouldBlock++;
                DrainSome();
            }
            else
            {
                throw new SocketException((int)error);
            }
        }
        return DrainAll();
    }

    private long DrainAll()
    {
        long drained = _inFlight;
        while (_inFlight > 0)
        {
            DrainSome();
        }
        return drained;
    }

    private void DrainSome()
    {
        nint received = _pair.ServerFd.Receive(_drainBuffer, default, out Errno errno);
        if (received > 0)
        {
            _inFlight -= received;
        }
        else if (received == 0)
        {
            throw new InvalidOperationException("The peer closed the loopback connection.");
        }
        else if (errno == Errno.EAGAIN)
        {
            // Loopback delivery is normally finished when send returns, but it may trail by a moment.
            _emptyDrains++;
        }
        else
        {
            throw errno.ToSocketException("readv");
        }
    }

    private sealed class BlockSegment : ReadOnlySequenceSegment<byte>
    {
        public BlockSegment(ReadOnlyMemory<byte> memory, BlockSegment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }
}
