namespace EpollTransport.Loops;

/// <summary>
/// One period during which one thread owns one loop. A handoff never reuses a tenure: it ends the
/// stuck thread's tenure and starts a new one for the thread that takes over, so a late store by the
/// stuck thread can only ever land in its own, dead, tenure and never in the new owner's.
/// </summary>
/// <remarks>
/// <see cref="State"/> is the whole protocol. The owner makes it odd before it runs application code
/// and even again afterwards; the watchdog may end the tenure only while it is odd, by moving it from
/// the exact odd value it watched to <see cref="Lost"/>. Because the owner leaves application code with
/// a compare-and-swap from that same odd value, exactly one of the two wins: either the owner keeps the
/// loop, or the watchdog has taken it and the owner must not touch the loop again. Values only grow, so
/// a claim aimed at an earlier stay in application code can never match a later one.
/// </remarks>
internal sealed class Tenure
{
    /// <summary>The tenure has ended: its thread lost the loop while it was running application code.</summary>
    public const long Lost = -1;

    [ThreadStatic]
    private static Tenure? t_current;

    private long _state;

    public Tenure(EpollLoop loop, int number)
    {
        Loop = loop;
        Number = number;
    }

    /// <summary>The tenure the calling thread holds (or held, if it lost it), if any.</summary>
    public static Tenure? Current
    {
        get => t_current;
        set => t_current = value;
    }

    public EpollLoop Loop { get; }

    /// <summary>How many owners the loop had before this one.</summary>
    public int Number { get; }

    /// <summary>The kernel thread id of the thread holding the tenure (0 until it starts).</summary>
    public int OsThreadId { get; private set; }

    /// <summary>The thread that got the tenure starts using it.</summary>
    public void BindToCurrentThread()
    {
        OsThreadId = Interop.ThreadState.CurrentThreadId();
        t_current = this;
    }

    /// <summary>Even: transport code (or idle). Odd: application code. <see cref="Lost"/>: ended.</summary>
    public long State => Volatile.Read(ref _state);

    /// <summary>
    /// Whether the owner is in transport code now. Only meaningful on the thread that holds this tenure
    /// (where it cannot change under the caller: a claim needs an odd state).
    /// </summary>
    public bool InTransportCode => (Volatile.Read(ref _state) & 1) == 0;

    /// <summary>Owner: about to run application code. Returns the odd value that marks this stay.</summary>
    public long EnterApplicationCode()
    {
        long entered = _state + 1;
        // Release: everything the owner wrote to the loop (cursors, connection state, the app slot) is
        // visible to a watchdog that later reads this value and takes the loop over.
        Volatile.Write(ref _state, entered);
        return entered;
    }

    /// <summary>Owner: back from application code. False if the loop was taken meanwhile.</summary>
    public bool TryLeaveApplicationCode(long entered)
        => Interlocked.CompareExchange(ref _state, entered + 1, entered) == entered;

    /// <summary>Watchdog: ends the tenure if its owner is still in the stay it watched.</summary>
    public bool TryClaim(long watched)
        => (watched & 1) == 1 && watched != Lost && Interlocked.CompareExchange(ref _state, Lost, watched) == watched;
}
