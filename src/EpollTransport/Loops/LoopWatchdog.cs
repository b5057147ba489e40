using System.Diagnostics;
using EpollTransport.Diagnostics;
using Microsoft.Extensions.Logging;

namespace EpollTransport.Loops;

/// <summary>
/// One thread per loop group that notices a loop whose thread has been inside application code for
/// longer than the stall threshold and hands the loop to a spare thread. It holds no loop itself, so
/// nothing it watches can block it. The loops never read a clock for it: the watchdog sees the same
/// odd <see cref="Tenure.State"/> on two visits and measures the time between them itself.
/// </summary>
internal sealed class LoopWatchdog
{
    public const string ThreadName = "epoll watchdog";

    /// <summary>Consecutive visits with every loop asleep in epoll_wait after which the watchdog parks.</summary>
    private const int IdleVisitsBeforeParking = 50;

    private readonly EpollLoop[] _loops;
    private readonly LoopThreads _threads;
    private readonly ILogger _logger;
    /// <summary>
    /// How much longer than the threshold a thread that is running (not waiting) may stay in application
    /// code. Busy is not blocked: on a box with more runnable threads than cores a handler is often just
    /// preempted, and handing its loop to yet another thread then only adds a competitor for the same
    /// cores (docs/design.md, "Busy is not blocked"). A handler that computes for that long still gets
    /// its loop moved.
    /// </summary>
    public const int RunningThresholdFactor = 20;

    private readonly long _thresholdTicks;
    private readonly int _periodMilliseconds;
    private readonly Watch[] _watches;
    private readonly SemaphoreSlim _unpark = new(0);
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _parked;
    private readonly WarningGate _warningGate = new();
    private long _handoffsAtLastWarning;
    private readonly WarningGate _capWarningGate = new();

    /// <summary>
    /// Thread-pool mode: application code runs on a loop only while the loop has nothing else to do
    /// (<see cref="EpollTransportOptions.InlineWhenQuiet"/>), so a stay that has lasted a visit while other
    /// work waits for the loop ends with a handoff, running or not. The continuation goes on as a
    /// thread-pool dispatch would, on its own thread, and the loop serves the rest.
    /// </summary>
    private readonly bool _yieldToWaitingWork;

    public LoopWatchdog(EpollLoop[] loops, LoopThreads threads, TimeSpan threshold, ILogger logger, bool yieldToWaitingWork = false)
    {
        _yieldToWaitingWork = yieldToWaitingWork;
        _loops = loops;
        _threads = threads;
        _logger = logger;
        _thresholdTicks = (long)(threshold.TotalSeconds * Stopwatch.Frequency);
        // A stall is noticed between one and one and a half thresholds after it began.
        _periodMilliseconds = Math.Max(1, (int)(threshold.TotalMilliseconds / 2));
        _watches = new Watch[loops.Length];
        _thread = new Thread(Main)
        {
            IsBackground = true,
            Name = ThreadName,
        };
    }

    /// <summary>Whether the watchdog sleeps until a loop wakes it (every loop was idle for a while).</summary>
    public bool IsParked => Volatile.Read(ref _parked) == 1;

    /// <summary>
    /// Whether a loop that wakes from epoll_wait must wake a parked watchdog (safe inline: application
    /// code may run in any turn). In thread-pool mode application code runs on a loop only in a quiet
    /// run, which wakes the watchdog itself (<see cref="EpollLoop.EnteredQuietRun"/>), so a loaded server
    /// whose loops never run application code keeps its watchdog parked.
    /// </summary>
    public bool UnparkOnLoopWake => !_yieldToWaitingWork;

    /// <summary>What the watchdog waits for before it parks: every loop asleep (inline) or none in application code (thread pool).</summary>
    private bool IsIdle(EpollLoop loop) => _yieldToWaitingWork ? !loop.IsInApplicationCode : loop.IsSleeping;

    public void Start() => _thread.Start();

    public void Stop()
    {
        _stopping = true;
        _unpark.Release();
    }

    /// <summary>A loop woke up from epoll_wait and found the watchdog parked. Any thread.</summary>
    public void Unpark()
    {
        if (Interlocked.CompareExchange(ref _parked, 0, 1) == 1)
        {
            _unpark.Release();
        }
    }

    private void Main()
    {
        int idleVisits = 0;
        while (!_stopping)
        {
            if (idleVisits >= IdleVisitsBeforeParking)
            {
                Park();
                idleVisits = 0;
                continue;
            }
            Thread.Sleep(_periodMilliseconds);
            idleVisits = Visit() ? idleVisits + 1 : 0;
        }
    }

    /// <summary>Looks at every loop once; true if all of them were idle (<see cref="IsIdle"/>).</summary>
    private bool Visit()
    {
        long now = Stopwatch.GetTimestamp();
        bool allAsleep = true;
        for (int i = 0; i < _loops.Length; i++)
        {
            EpollLoop loop = _loops[i];
            allAsleep &= IsIdle(loop);
            Tenure tenure = loop.CurrentTenure;
            long state = tenure.State;
            ref Watch watch = ref _watches[i];
            if ((state & 1) == 0 || state == Tenure.Lost)
            {
                watch = default;
                continue;
            }
            if (!ReferenceEquals(watch.Tenure, tenure) || watch.State != state)
            {
                // A new stay in application code: start the clock (and, for the quiet loop's demotion
                // rule, the thread's CPU clock).
                watch = new Watch(tenure, state, now, GC.GetTotalPauseDuration(),
                    _yieldToWaitingWork ? Interop.ThreadState.OnCpuNanoseconds(tenure.OsThreadId) : -1);
                continue;
            }
            // A garbage collection freezes every loop alike; that is not a handler blocking.
            long pausedTicks = (long)((GC.GetTotalPauseDuration() - watch.PauseAtStart).TotalSeconds * Stopwatch.Frequency);
            long stuckTicks = now - watch.Since - pausedTicks;
            // The thread's state is read from /proc at most once per visit, and only when a rule asks.
            bool? threadWaiting = null;
            bool IsThreadWaiting() => threadWaiting ??= Interop.ThreadState.IsWaiting(tenure.OsThreadId);

            bool overLong = stuckTicks >= _thresholdTicks * RunningThresholdFactor;
            bool blocked = stuckTicks >= _thresholdTicks && IsThreadWaiting();
            bool othersWait = _yieldToWaitingWork && loop.HasWorkWaiting;
            if (loop.StopRequested || overLong || blocked || othersWait)
            {
                // A thread the garbage collector suspended meanwhile may still be waking up (state S): that
                // wait was the runtime's, not the handler's, so after a pause only computing counts.
                bool waiting = pausedTicks == 0 && IsThreadWaiting();
                TryHandOff(tenure, state, now - watch.Since,
                    demote: !othersWait || overLong || blocked || waiting || Computed(watch, now, tenure.OsThreadId));
                watch = default;
            }
        }
        return allAsleep;
    }

    /// <summary>
    /// Whether the thread spent at least half the watched time on a CPU: a handler that computes, which
    /// will likely compute again, rather than one a busy host kept waiting for a CPU. Unknown counts as
    /// computed (the connection is demoted, as it always was).
    /// </summary>
    private static bool Computed(Watch watch, long now, int threadId)
    {
        long onCpu = Interop.ThreadState.OnCpuNanoseconds(threadId);
        if (watch.OnCpuAtStart < 0 || onCpu < 0)
        {
            return true;
        }
        long watchedNanoseconds = (long)((now - watch.Since) * (1e9 / Stopwatch.Frequency));
        return 2 * (onCpu - watch.OnCpuAtStart) >= watchedNanoseconds;
    }

    /// <summary>
    /// Takes the loop from the thread stuck in application code. <paramref name="demote"/>: whether the
    /// connection whose continuation it runs goes to the thread pool for good. Yes when the handler
    /// blocked, computed (<see cref="Computed"/>) or ran past the long threshold, since it will likely do
    /// so again. No when a quiet run was moved only because other work waited while its thread sat
    /// preempted: on a busy host that is the host, not the handler (its own connection's next data is
    /// "other work" to a poll of the epoll fd), and a connection demoted for that would cross two threads
    /// per request or upload chunk for the rest of its life (docs/design.md, "The quiet loop").
    /// </summary>
    private void TryHandOff(Tenure tenure, long state, long stuckTicks, bool demote)
    {
        if (_threads.StuckCount >= _threads.MaxStuckThreads)
        {
            if (_capWarningGate.TryTakeTurn())
            {
                EpollTransportLog.HandoffCapReached(_logger, tenure.Loop.Index, _threads.MaxStuckThreads);
            }
            return;
        }
        if (!tenure.TryClaim(state))
        {
            // The owner came back from application code just in time: it keeps the loop.
            return;
        }
        // Counted before the next owner starts, so whoever sees that owner's work also sees the count.
        Interlocked.Increment(ref tenure.Loop.Counters.Handoffs);
        tenure.Loop.Application.OnLoopTaken(demote);
        _threads.HandOff(tenure);

        long stuckMilliseconds = stuckTicks * 1000 / Stopwatch.Frequency;
        if (_yieldToWaitingWork)
        {
            // Thread-pool mode: the continuation now runs on its own thread, as a dispatch would have
            // from the start; nothing for an operator to fix, so no warning.
            EpollTransportLog.QuietLoopHandedOff(_logger, tenure.Loop.Index, stuckMilliseconds, demote);
            return;
        }
        EpollTransportLog.LoopHandedOff(_logger, tenure.Loop.Index, stuckMilliseconds);
        if (_warningGate.TryTakeTurn())
        {
            long handoffs = _threads.Handoffs;
            EpollTransportLog.LoopHandoffWarning(_logger, tenure.Loop.Index, stuckMilliseconds,
                handoffs - _handoffsAtLastWarning, _threads.StuckCount);
            _handoffsAtLastWarning = handoffs;
        }
    }

    private void Park()
    {
        Volatile.Write(ref _parked, 1);
        // Dekker with the loops' wake-up (EpollLoop clears its sleeping flag, or enters a quiet run, with
        // a full fence, then reads ours): either a loop that wakes now sees us parked, or we see it here.
        Interlocked.MemoryBarrier();
        bool allAsleep = true;
        foreach (EpollLoop loop in _loops)
        {
            allAsleep &= IsIdle(loop);
        }
        if (allAsleep && !_stopping)
        {
            // Bounded all the same: a missed wake-up would cost one stall detection, not the guarantee.
            _unpark.Wait(TimeSpan.FromSeconds(1));
        }
        Volatile.Write(ref _parked, 0);
    }

    private readonly record struct Watch(Tenure? Tenure, long State, long Since, TimeSpan PauseAtStart, long OnCpuAtStart);
}
