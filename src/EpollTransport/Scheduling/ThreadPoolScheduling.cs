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
/// <para>
/// A quiet loop does not dispatch at all (<see cref="EpollTransportOptions.InlineWhenQuiet"/>): when the
/// request just read is the only thing the loop has to do (<see cref="IsQuiet"/>), the loop runs its
/// continuation itself through the app slot, watched like <see cref="InlineScheduling"/>, and sends the
/// response right after it. The hop to the thread pool is the whole cost of a request on an idle
/// server (docs/design.md, "The quiet loop"); as soon as a second connection has traffic, or a dispatch
/// is out, requests go to the thread pool, where a preempted or slow handler holds up only its own
/// connection.
/// </para>
/// </summary>
internal sealed class ThreadPoolScheduling(EpollLoop loop) : LoopSlotScheduling(loop)
{
    public const int HoldTimeoutMilliseconds = 1;

    private static readonly long s_holdTimeoutTicks = Stopwatch.Frequency * HoldTimeoutMilliseconds / 1000;

    /// <summary>The mode (so, the loop) whose dispatch the calling thread is running, if any.</summary>
    [ThreadStatic]
    private static ThreadPoolScheduling? t_dispatchingFor;

    // Oldest first: holds are watched in the order they start.
    private readonly ConcurrentQueue<(SendScheduler Sends, long HeldSince)> _holds = new();
    private int _dispatchesOut;

    // Loop owner: whether the last quiet run answered its request on the loop (a response flushed there),
    // the one case where polling before sleeping pays. An HTTP/2 connection's read loop also runs as a
    // quiet run, but Kestrel answers its streams on the thread pool; polling then would only take a core
    // from them.
    private bool _answeredInRun;
    private bool _lastRunAnsweredOnLoop;

    public override ConnectionPipes CreatePipes(EpollConnection connection)
    {
        var sends = new SendScheduler(connection, this);
        ConnectionAppScheduler? quiet = Loop.Settings.InlineWhenQuiet ? new ConnectionAppScheduler(Slot) : null;
        var input = InputPipe(new ApplicationDispatcher(this, sends, quiet));
        var output = OutputPipe(sends, System.IO.Pipelines.PipeScheduler.ThreadPool);
        return new ConnectionPipes(input, output, sends.WatchInput(input.Reader));
    }

    /// <summary>Application code runs on the loop only while the app slot holds a quiet loop's continuation.</summary>
    public override bool RunsOnLoop => !Slot.IsEmpty;

    /// <summary>
    /// Whether the loop has nothing to do but the step it is in, one connection's read: no other event
    /// in the batch, nothing queued, no dispatch out and nothing in the app slot. Loop owner. The loop's
    /// own fields first: under load they already say no, and the dispatch count's line, which the pool
    /// threads write, is not read for nothing.
    /// </summary>
    public bool IsQuiet => Loop.IsQuietTurn && Slot.IsEmpty && Volatile.Read(ref _dispatchesOut) == 0;

    /// <summary>The watchdog parks while no loop runs application code; a quiet run wakes it.</summary>
    protected override void OnEnteredApplicationCode() => Loop.EnteredQuietRun();

    /// <summary>
    /// A quiet loop's continuation, watched like safe inline's. The watchdog also takes the loop from it
    /// as soon as other work waits for the loop (<see cref="LoopWatchdog"/>): quiet is no longer true,
    /// and the continuation goes on as any thread-pool dispatch would, while the loop serves the rest.
    /// </summary>
    protected override bool RunWatched(Action<object?> action, object? state, ConnectionAppScheduler? owner)
    {
        Loop.Counters.QuietInlineRuns++;
        // From here on, work another thread queues means someone waits for this loop.
        Loop.Scheduler.ClearForeignWork();
        _answeredInRun = false;
        bool kept = RunUnderTenure(action, state, owner);
        _lastRunAnsweredOnLoop = kept && _answeredInRun;
        return kept;
    }

    /// <summary>
    /// A quiet loop polls before it sleeps when its last quiet run answered the request on the loop, one
    /// connection alone has been active and no dispatch is out; otherwise the cores are left to the handlers.
    /// </summary>
    public override bool MayPollBeforeSleeping => _lastRunAnsweredOnLoop && Loop.HasOneActiveRegistration && Volatile.Read(ref _dispatchesOut) == 0;

    /// <summary>
    /// A quiet run's continuation flushed output on the loop thread: the request was answered there, and
    /// the client's next one is likely a round trip away. The loop's thread, in its quiet run; a stuck
    /// thread that lost the loop a moment ago may still set it, which only costs one poll.
    /// </summary>
    public void AnsweredOnLoop() => _answeredInRun = true;

    /// <summary>A continuation went to the thread pool: the next response will not come from the loop.</summary>
    public void Dispatched()
    {
        // Read first: this runs for every dispatch under load, beside the dispatch count's hot line.
        if (_lastRunAnsweredOnLoop)
        {
            _lastRunAnsweredOnLoop = false;
        }
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
