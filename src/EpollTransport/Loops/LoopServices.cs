using System.Buffers;
using EpollTransport.Diagnostics;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Loops;

/// <summary>
/// What a connection takes from its loop besides the loop's own job (its queue, its registrations,
/// who holds it): where to log, the settings, the counters its I/O is booked in, the memory pool, the
/// spill buffer and budget of a read. One per loop, made by the loop; a connection keeps it in a
/// readonly field, so nothing is allocated per read or write. Kept apart from <see cref="EpollLoop"/>
/// so a connection's dependencies on the loop proper stay few and visible.
/// </summary>
internal sealed class LoopServices
{
    /// <summary>Bytes one connection may read per turn before yielding to the others on the loop.</summary>
    private const int ReadBudgetPerTurn = 256 * 1024;

    public LoopServices(int loopIndex, TransportSettings settings, MemoryPool<byte> memoryPool, LoopCounters counters, ILogger logger)
    {
        LoopIndex = loopIndex;
        Settings = settings;
        MemoryPool = memoryPool;
        Counters = counters;
        Logger = logger;
        // A turn's reads never take more than the input pipe accepts before it pauses the reader.
        ReadBudget = settings.MaxReadBufferSize > 0 ? Math.Min(ReadBudgetPerTurn, settings.MaxReadBufferSize) : ReadBudgetPerTurn;
        // The overflow buffer for reads larger than the pipe block at hand; pinned so readv can use it directly.
        ReceiveSpill = GC.AllocateUninitializedArray<byte>(64 * 1024, pinned: true);
    }

    /// <summary>The loop's index in its group, for logs and descriptions.</summary>
    public int LoopIndex { get; }

    public TransportSettings Settings { get; }

    /// <summary>The loop's pool: the blocks of its connections' pipes.</summary>
    public MemoryPool<byte> MemoryPool { get; }

    /// <summary>The loop's counters (the same object the loop books its own events in).</summary>
    public LoopCounters Counters { get; }

    public ILogger Logger { get; }

    /// <summary>Bytes one connection reads per turn: <see cref="ReadBudgetPerTurn"/>, or less when the pipe pauses sooner.</summary>
    public long ReadBudget { get; }

    /// <summary>Shared by the loop's connections: only the loop's owner reads, one connection at a time.</summary>
    public byte[] ReceiveSpill { get; }
}
