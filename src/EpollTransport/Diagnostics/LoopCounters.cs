namespace EpollTransport.Diagnostics;

/// <summary>
/// Per-loop counters. Only the loop thread writes them (plain increments, no atomics on the I/O path);
/// metric observers read them from other threads, where a slightly stale value is fine.
/// </summary>
internal sealed class LoopCounters
{
    public long ConnectionsAccepted;
    public long ConnectionsCurrent;

    /// <summary>Connections reset at once because accepting them would have eaten into the descriptor reserve.</summary>
    public long ConnectionsRefused;
    public long BytesReceived;
    public long BytesSent;
    public long Reads;
    public long Writes;
    public long Wakeups;

    /// <summary>Held sends the loop released because their application dispatch had not returned in time.</summary>
    public long HeldSendsTimedOut;

    /// <summary>Application continuations a quiet loop ran itself instead of dispatching them to the thread pool.</summary>
    public long QuietInlineRuns;

    /// <summary>Handoffs of this loop to another thread; written by the watchdog (atomically), not the loop.</summary>
    public long Handoffs;

    /// <summary>Bytes the loop thread has allocated, sampled once per turn; tests use it to prove the I/O path does not allocate.</summary>
    public long AllocatedBytes;

    public LoopCountersSnapshot Snapshot(int loopIndex) => new()
    {
        LoopIndex = loopIndex,
        ConnectionsCurrent = Volatile.Read(ref ConnectionsCurrent),
        ConnectionsAccepted = Volatile.Read(ref ConnectionsAccepted),
        BytesReceived = Volatile.Read(ref BytesReceived),
        BytesSent = Volatile.Read(ref BytesSent),
        Reads = Volatile.Read(ref Reads),
        Writes = Volatile.Read(ref Writes),
        Wakeups = Volatile.Read(ref Wakeups),
        HeldSendsTimedOut = Volatile.Read(ref HeldSendsTimedOut),
        QuietInlineRuns = Volatile.Read(ref QuietInlineRuns),
        Handoffs = Interlocked.Read(ref Handoffs),
        ConnectionsRefused = Volatile.Read(ref ConnectionsRefused),
    };
}
