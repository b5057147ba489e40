using System.Collections.Concurrent;
using System.Diagnostics;
using EpollTransport.Connections;
using EpollTransport.Loops;

namespace EpollTransport.Scheduling;

/// <summary>
/// The default mode: application code runs on the thread pool (<see cref="ApplicationDispatcher"/>), and
/// a response leaves from the thread that produced it when that is cheapest (<see cref="SendScheduler"/>).
/// The loop keeps count of the dispatches it has out (continuations handed to the thread pool that have
/// not returned yet), because two things wait on them:
/// <list type="bullet">
/// <item>Responses produced while other dispatches are out are queued for the loop without waking it;
/// the last dispatch to return wakes it once for all of them (<see cref="QueueUntilDispatchesReturn"/>).</item>
/// <item>A send held for a pipelined batch waits for its own dispatch to return.</item>
/// </list>
/// A dispatch that blocks (a synchronous wait in a handler) must not keep either waiting: while any
/// dispatch is out the loop sleeps at most <see cref="HoldTimeoutMilliseconds"/>, then runs the queued
/// responses and releases overdue holds itself.
/// </summary>
internal sealed class ThreadPoolScheduling(EpollLoop loop) : ApplicationScheduling(loop)
{
    public const int HoldTimeoutMilliseconds = 1;

    private static readonly long s_holdTimeoutTicks = Stopwatch.Frequency * HoldTimeoutMilliseconds / 1000;

    /// <summary>The mode (so, the loop) whose dispatch the calling thread is running, if any.</summary>
    [ThreadStatic]
    private static ThreadPoolScheduling? t_dispatchingFor;

    // Oldest first: holds are watched in the order they start.
    private readonly ConcurrentQueue<(SendScheduler Sends, long HeldSince)> _holds = new();
    private int _dispatchesOut;

    public override ConnectionPipes CreatePipes(EpollConnection connection)
    {
        var sends = new SendScheduler(connection, this);
        var input = InputPipe(new ApplicationDispatcher(this, sends));
        var output = OutputPipe(sends, System.IO.Pipelines.PipeScheduler.ThreadPool);
        return new ConnectionPipes(input, output, sends.WatchInput(input.Reader));
    }

    public override int MaxSleepMilliseconds => Volatile.Read(ref _dispatchesOut) > 0 ? HoldTimeoutMilliseconds : -1;

    public override void OnTurn() => Loop.Counters.HeldSendsTimedOut += ReleaseOverdueHolds();

    /// <summary>Whether a dispatch other than the calling thread's own is out.</summary>
    public bool OtherDispatchesOut => Volatile.Read(ref _dispatchesOut) > (ReferenceEquals(t_dispatchingFor, this) ? 1 : 0);

    /// <summary>Loop thread, when it hands the application a continuation.</summary>
    public void DispatchStarted() => Interlocked.Increment(ref _dispatchesOut);

    /// <summary>Dispatching thread, on entry to a dispatch counted by <see cref="DispatchStarted"/>.</summary>
    public ThreadPoolScheduling? EnterDispatch()
    {
        ThreadPoolScheduling? outer = t_dispatchingFor;
        t_dispatchingFor = this;
        return outer;
    }

    /// <summary>
    /// Dispatching thread, after its held send (if any) was released. The last dispatch to return wakes
    /// the loop if responses were queued for it meanwhile. The decrement and the queue's enqueue are both
    /// full fences, so either this sees a response queued by <see cref="QueueUntilDispatchesReturn"/> or
    /// that caller sees no dispatch left and wakes the loop itself.
    /// </summary>
    public void ExitDispatch(ThreadPoolScheduling? outer)
    {
        t_dispatchingFor = outer;
        if (Interlocked.Decrement(ref _dispatchesOut) == 0 && !Loop.Scheduler.IsEmpty)
        {
            Loop.WakeIfSleeping();
        }
    }

    /// <summary>
    /// Queues a send pump's continuation for the loop without waking it, because a dispatch that is out
    /// will (<see cref="ExitDispatch"/>); if none is out by now, wakes it here.
    /// </summary>
    public void QueueUntilDispatchesReturn(Action<object?> action, object? state)
    {
        Loop.Scheduler.ScheduleWithoutWake(action, state);
        if (Volatile.Read(ref _dispatchesOut) == 0)
        {
            Loop.WakeIfSleeping();
        }
    }

    /// <summary>Dispatching thread, when it starts holding a send.</summary>
    public void WatchHold(SendScheduler sends, long heldSince) => _holds.Enqueue((sends, heldSince));

    /// <summary>Releases the holds older than the timeout; returns how many it sent. Loop thread.</summary>
    private int ReleaseOverdueHolds()
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
            if (hold.Sends.ReleaseOverdue(hold.HeldSince))
            {
                released++;
            }
        }
        return released;
    }
}
