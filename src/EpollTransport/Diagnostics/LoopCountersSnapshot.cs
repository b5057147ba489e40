namespace EpollTransport.Diagnostics;

/// <summary>
/// The counters of one epoll loop at one moment. Properties only, with no positional constructor or
/// deconstruction, so that a new counter is a new property and code written against this version
/// keeps compiling.
/// </summary>
public readonly record struct LoopCountersSnapshot
{
    /// <summary>The loop's index, from 0.</summary>
    public int LoopIndex { get; init; }

    /// <summary>Connections the loop owns now.</summary>
    public long ConnectionsCurrent { get; init; }

    /// <summary>Connections accepted by the loop since it started.</summary>
    public long ConnectionsAccepted { get; init; }

    /// <summary>Bytes read from sockets.</summary>
    public long BytesReceived { get; init; }

    /// <summary>Bytes written to sockets.</summary>
    public long BytesSent { get; init; }

    /// <summary>Read system calls.</summary>
    public long Reads { get; init; }

    /// <summary>Write system calls.</summary>
    public long Writes { get; init; }

    /// <summary>Times epoll_wait returned.</summary>
    public long Wakeups { get; init; }

    /// <summary>
    /// Sends held for a pipelined batch that the loop released itself because the application's dispatch
    /// had not returned within the hold timeout: a handler blocking its thread after a flush.
    /// </summary>
    public long HeldSendsTimedOut { get; init; }

    /// <summary>
    /// Application continuations (a request, typically) that the loop ran itself because it had nothing
    /// else to do, instead of dispatching them to the thread pool
    /// (<see cref="EpollTransportOptions.InlineWhenQuiet"/>; thread-pool mode only).
    /// </summary>
    public long QuietInlineRuns { get; init; }

    /// <summary>
    /// Times the loop was moved to another thread because application code held its thread longer than
    /// the inline stall threshold (safe inline mode, and a quiet loop's inline runs).
    /// </summary>
    public long Handoffs { get; init; }

    /// <summary>
    /// Connections the loop accepted and reset at once because the process was within its descriptor
    /// reserve of <c>RLIMIT_NOFILE</c> (see "Descriptor limit" in the README).
    /// </summary>
    public long ConnectionsRefused { get; init; }
}
