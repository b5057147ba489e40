using System.Collections.Concurrent;
using System.Diagnostics;
using EpollTransport.Connections;

namespace EpollTransport.Loops;

/// <summary>
/// The loop's guarantee that a held send never waits on a blocked application thread for long: while
/// any application dispatch is out, the loop sleeps at most <see cref="HoldTimeoutMilliseconds"/> and
/// releases holds older than that itself.
/// </summary>
internal sealed class HeldSendWatch
{
    public const int HoldTimeoutMilliseconds = 1;

    private static readonly long s_holdTimeoutTicks = Stopwatch.Frequency * HoldTimeoutMilliseconds / 1000;

    // Oldest first: holds are watched in the order they start.
    private readonly ConcurrentQueue<(EpollConnection Connection, long HeldSince)> _holds = new();
    private int _dispatchesOut;

    /// <summary>Whether a dispatch that may hold a send is out, so the loop must not sleep indefinitely.</summary>
    public bool AnyDispatchOut => Volatile.Read(ref _dispatchesOut) > 0;

    /// <summary>How many application dispatches the loop has out now.</summary>
    public int DispatchesOut => Volatile.Read(ref _dispatchesOut);

    /// <summary>Loop thread, when it hands the application a continuation that may hold sends.</summary>
    public void DispatchStarted() => Interlocked.Increment(ref _dispatchesOut);

    /// <summary>Dispatching thread, after its held send (if any) was released.</summary>
    public void DispatchEnded() => Interlocked.Decrement(ref _dispatchesOut);

    /// <summary>Dispatching thread, when it starts holding a send.</summary>
    public void Watch(EpollConnection connection, long heldSince) => _holds.Enqueue((connection, heldSince));

    /// <summary>Releases the holds older than the timeout; returns how many it sent. Loop thread.</summary>
    public int ReleaseOverdue()
    {
        if (_holds.IsEmpty)
        {
            return 0;
        }
        long cutoff = Stopwatch.GetTimestamp() - s_holdTimeoutTicks;
        int released = 0;
        while (_holds.TryPeek(out var hold) && hold.HeldSince <= cutoff)
        {
            _holds.TryDequeue(out _);
            if (hold.Connection.ReleaseOverdueSend(hold.HeldSince))
            {
                released++;
            }
        }
        return released;
    }
}
