namespace EpollTransport.Diagnostics;

/// <summary>The counters of one epoll loop at one moment.</summary>
/// <param name="LoopIndex">The loop's index, from 0.</param>
/// <param name="ConnectionsCurrent">Connections the loop owns now.</param>
/// <param name="ConnectionsAccepted">Connections accepted by the loop since it started.</param>
/// <param name="BytesReceived">Bytes read from sockets.</param>
/// <param name="BytesSent">Bytes written to sockets.</param>
/// <param name="Reads">Read system calls.</param>
/// <param name="Writes">Write system calls.</param>
/// <param name="Wakeups">Times epoll_wait returned.</param>
/// <param name="HeldSendsTimedOut">
/// Sends held for a pipelined batch that the loop released itself because the application's dispatch
/// had not returned within the hold timeout: a handler blocking its thread after a flush.
/// </param>
/// <param name="Handoffs">
/// Times the loop was moved to another thread because application code held its thread longer than
/// the inline stall threshold (safe inline mode only).
/// </param>
/// <param name="ConnectionsRefused">
/// Connections the loop accepted and reset at once because the process was within its descriptor
/// reserve of <c>RLIMIT_NOFILE</c> (see "Descriptor limit" in the README).
/// </param>
public readonly record struct LoopCountersSnapshot(
    int LoopIndex,
    long ConnectionsCurrent,
    long ConnectionsAccepted,
    long BytesReceived,
    long BytesSent,
    long Reads,
    long Writes,
    long Wakeups,
    long HeldSendsTimedOut,
    long Handoffs,
    long ConnectionsRefused);
