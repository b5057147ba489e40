using System.Buffers;
using System.IO.Pipelines;
using EpollTransport.Connections;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using EpollTransport.Scheduling;
using Microsoft.Extensions.Logging;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Loops;

/// <summary>
/// One epoll loop: its own epoll instance, eventfd, memory pool, scheduler and registrations. The loop
/// is a role, not a thread: one thread at a time holds it (<see cref="CurrentTenure"/>), and only that
/// thread, while in transport code, reads, writes or closes the fds registered here. In the safe inline
/// mode the watchdog may give the role to another thread while the holder is stuck in application
/// code; everything a turn needs to go on therefore lives in fields (the phase and its cursors), never
/// in locals of the stuck thread's stack.
/// </summary>
internal sealed class EpollLoop : IFdOwner
{
    private const int MaxEventsPerWait = 256;
    private const int MaxWorkItemsPerTurn = 4096;

    /// <summary>
    /// How long one turn may run queued work before the loop looks at epoll again. Work that keeps
    /// queuing more (a flood of responses refilling their pipes as fast as the loop sends them, or, in
    /// the inline modes, handlers producing those responses on the loop itself) would otherwise keep a
    /// new request's read and answer waiting behind all of it.
    /// </summary>
    private static readonly long s_queueTimePerTurn = System.Diagnostics.Stopwatch.Frequency / 500;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly Epoll _epoll;
    private readonly WakeEvent _wake;
    private readonly RegistrationTable _registrations = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogger _logger;
    private List<EpollConnection> _readContinuations = new();
    private List<EpollConnection> _readContinuationsRunning = new();
    private readonly List<(long DueTicks, Action<object?> Callback, object? State)> _timers = new();
    private volatile Tenure _tenure;
    private LoopWatchdog? _watchdog;
    private int _sleeping;
    private volatile bool _stopRequested;
    private bool _workLeftOver;

    // ---- the turn in progress, kept here so that a new owner resumes it where the old one stopped ----
    private TurnPhase _phase = TurnPhase.Wait;
    private int _batchCount;
    private bool _batchHasOneEvent;

    // Which registration had the loop's events lately (HasOneActiveRegistration): its token, and the turn
    // since which it alone had them. A slot's generation moves on when it is freed, so a closed
    // connection's token does not match the next one's.
    private long _turn;
    private ulong _soleActiveToken = WakeToken;
    private long _soleActiveSince;

    /// <summary>
    /// How long a loop that would sleep polls epoll first (<see cref="PollBriefly"/>), in microseconds:
    /// about one request/response round trip over loopback, so a client that sends its next request as
    /// soon as it has the response finds the loop still awake.
    /// </summary>
    public const int PollBeforeSleepingMicroseconds = 50;

    /// <summary>A sleep that ended sooner than this says the next one will too: poll first next time.</summary>
    public const int ShortSleepMicroseconds = 200;

    private static readonly long s_pollTicks = System.Diagnostics.Stopwatch.Frequency * PollBeforeSleepingMicroseconds / 1_000_000;
    private static readonly long s_shortSleepTicks = System.Diagnostics.Stopwatch.Frequency * ShortSleepMicroseconds / 1_000_000;
    private bool _lastSleepWasShort;
    private int _batchCursor;
    private int _readCursor;
    private int _queueBudget;
    private long _queueDeadline;
    private long _allocatedBase;

    public EpollLoop(int index, TransportSettings settings, MemoryPool<byte> memoryPool, ILogger logger)
    {
        Index = index;
        Settings = settings;
        MemoryPool = memoryPool;
        _logger = logger;
        Scheduler = new LoopScheduler(this);
        Func<int, string, Errno>? fault = settings.Hooks?.LoopCreationFault;
        ThrowIfInjected(fault, index, "epoll_create1");
        _epoll = new Epoll(MaxEventsPerWait);
        try
        {
            ThrowIfInjected(fault, index, "eventfd");
            _wake = new WakeEvent();
            try
            {
                // Edge-triggered: every eventfd write is reported as a new event, so the counter never
                // needs reading back (it would take 2^64 wake-ups to fill), which saves a syscall per wake-up.
                ThrowIfInjected(fault, index, "epoll_ctl");
                Errno errno = _epoll.Add(_wake.Fd, EPOLLIN | EPOLLET, WakeToken);
                if (errno != Errno.None)
                {
                    throw errno.ToSocketException("epoll_ctl(ADD eventfd)");
                }
            }
            catch
            {
                _wake.Dispose();
                throw;
            }
        }
        catch
        {
            _epoll.Dispose();
            throw;
        }

        _tenure = new Tenure(this, 0);
        Application = ApplicationScheduling.For(this, settings.Scheduling);
        Services = new LoopServices(index, settings, memoryPool, Counters, logger);
    }

    private static void ThrowIfInjected(Func<int, string, Errno>? fault, int index, string step)
    {
        if (fault?.Invoke(index, step) is { } errno && errno != Errno.None)
        {
            throw errno.ToSocketException(step);
        }
    }

    /// <summary>
    /// Releases a loop that was built but never ran (a later loop of its group failed to build): its
    /// epoll instance, eventfd and pool. A running loop releases them in its shutdown.
    /// </summary>
    public void DisposeUnstarted()
    {
        _epoll.Dispose();
        _wake.Dispose();
        MemoryPool.Dispose();
        _stopped.TrySetResult();
    }

    private enum TurnPhase
    {
        Wait,
        Batch,
        ReadContinuations,
        Queue,
    }

    public int Index { get; }

    public TransportSettings Settings { get; }

    public MemoryPool<byte> MemoryPool { get; }

    public LoopScheduler Scheduler { get; }

    /// <summary>Where this loop's connections run application code (the mode's pipes and turn hooks).</summary>
    public ApplicationScheduling Application { get; }

    public LoopCounters Counters { get; } = new();

    /// <summary>What the loop's connections use of it besides its queue and registrations (see <see cref="LoopServices"/>).</summary>
    public LoopServices Services { get; }

    public ILogger Logger => _logger;

    /// <summary>
    /// Whether the calling thread holds the loop now and is in transport code. Application code that
    /// runs inline on the loop thread gets false, like any other thread: it may lose the loop at any
    /// moment, so it must only ever use the thread-safe queues.
    /// </summary>
    public bool IsOwnerInTransportCode => Tenure.Current is { } tenure && ReferenceEquals(tenure, _tenure) && tenure.InTransportCode;

    /// <summary>
    /// Whether the calling thread holds the loop now, in transport code or in application code it runs
    /// inline. Such a thread must queue work for the loop, never run it nested in its own stack.
    /// </summary>
    public bool IsHeldByCallingThread => Tenure.Current is { } tenure && ReferenceEquals(tenure, _tenure);

    bool IFdOwner.IsCallerOwner => IsOwnerInTransportCode;

    string IFdOwner.Describe()
    {
        Tenure tenure = _tenure;
        return $"epoll loop {Index} (tenure {tenure.Number}, state {tenure.State})";
    }

    /// <summary>The current owner period. Read by the watchdog; changes only by a handoff.</summary>
    public Tenure CurrentTenure => _tenure;

    /// <summary>
    /// Whether the step the loop is in is all it has to do this turn: one connection alone has been
    /// active (<see cref="HasOneActiveRegistration"/>), the step is the turn's last (<see cref="IsLastStep"/>),
    /// and no read continuation or queued work waits. Loop owner (thread-pool mode's quiet loop asks).
    /// </summary>
    public bool IsQuietTurn => HasOneActiveRegistration && IsLastStep && _readContinuations.Count == 0 && Scheduler.IsEmpty;

    /// <summary>
    /// Whether nothing of this turn is left after the step in progress: the batch's only event, the last
    /// read continuation, or a queued item (the queue's emptiness is checked beside it). The queued case is
    /// an upload's: a paused input resumes through the queue, and the read that follows releases the next
    /// chunk to the application; sending that to the thread pool would make every chunk cross two threads
    /// (docs/design.md, "The quiet loop").
    /// </summary>
    private bool IsLastStep => _phase switch
    {
        TurnPhase.Batch => _batchHasOneEvent,
        TurnPhase.ReadContinuations => _readCursor == _readContinuationsRunning.Count,
        TurnPhase.Queue => true,
        _ => false,
    };

    /// <summary>
    /// Whether, for the last <see cref="QuietTurns"/> turns, every event the loop took came from the same
    /// registration: one connection is active, however many others sit idle (a health check's, a pool's
    /// spares). A loop caught up with many active connections also sees one event at a time now and then,
    /// but from a different one each time; running one of them on the loop, or polling for the next,
    /// would cost the others their share of the cores (the thread pool runs them side by side). Owner;
    /// other threads may read it as a hint (thread-pool mode's sends decide whether to wait for the end
    /// of their work item), and a stale answer costs only that choice.
    /// </summary>
    public bool HasOneActiveRegistration => _turn - _soleActiveSince >= QuietTurns;

    /// <summary>Turns in which only one registration may have had events before the loop counts as quiet.</summary>
    public const int QuietTurns = 8;

    /// <summary>
    /// Whether other work waits for the loop: events epoll_wait would return, or work other threads
    /// queued (<see cref="LoopScheduler.HasForeignWork"/>). Any thread (the watchdog asks while the
    /// loop's thread is away in application code); a hint, read without taking anything from the loop.
    /// </summary>
    public bool HasWorkWaiting => Scheduler.HasForeignWork || _epoll.HasReadyEvents();

    /// <summary>
    /// Whether the loop's thread is away in application code (an odd tenure state). A hint for where a
    /// response should leave: a loop running a handler will not send for anyone else soon.
    /// </summary>
    public bool IsInApplicationCode => (_tenure.State & 1) == 1;

    /// <summary>Whether the loop is asleep in (or about to enter) epoll_wait with nothing queued.</summary>
    public bool IsSleeping => Volatile.Read(ref _sleeping) == 1;

    public bool StopRequested => _stopRequested;

    public Task Stopped => _stopped.Task;

    /// <summary>Before the loop starts: the watchdog that it wakes when it finds it parked.</summary>
    public void AttachWatchdog(LoopWatchdog watchdog) => _watchdog = watchdog;

    /// <summary>
    /// Thread-pool mode, right after the owner entered application code for a quiet run: wakes a parked
    /// watchdog. The tenure's odd state is stored first and a full fence orders it before the read of
    /// the watchdog's flag (Dekker with <see cref="LoopWatchdog"/>'s park): either the watchdog sees this
    /// loop in application code before it parks, or this sees it parked and wakes it. Loop owner.
    /// </summary>
    public void EnteredQuietRun()
    {
        Interlocked.MemoryBarrier();
        if (_watchdog is { IsParked: true } watchdog)
        {
            watchdog.Unpark();
        }
    }

    /// <summary>Watchdog, right after it claimed <paramref name="lost"/>: the loop's next owner period.</summary>
    public Tenure BeginTenure(Tenure lost)
    {
        var next = new Tenure(this, lost.Number + 1);
        _tenure = next;
        return next;
    }

    /// <summary>
    /// Asks the loop to abort what it still owns and exit; completes when it has. The thread that runs
    /// it is not joined: in the safe inline mode it may be a thread stuck in application code forever,
    /// while a spare has long since run the loop's shutdown.
    /// </summary>
    public async Task StopAsync()
    {
        _stopRequested = true;
        // Store-load ordering against the loop's "sleeping, then re-check" sequence needs a full fence.
        Interlocked.MemoryBarrier();
        WakeIfSleeping();
        await _stopped.Task.ConfigureAwait(false);
    }

    /// <summary>Called after work was queued from another thread.</summary>
    public void WakeIfSleeping()
    {
        // Only the producer that flips the flag pays for the eventfd write.
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            _wake.Signal();
        }
    }

    /// <summary>Registers <paramref name="fd"/> under a fresh slot token. Loop thread only.</summary>
    public Errno Register(ILoopRegistration registration, int fd, uint events)
    {
        FdOwnership.CheckOwner(this, "epoll_ctl(ADD)");
        ulong token = _registrations.Add(registration);
        Errno errno = _epoll.Add(fd, events, token);
        if (errno != Errno.None)
        {
            _registrations.Remove(registration);
        }
        return errno;
    }

    /// <summary>
    /// Removes the registration before the fd is closed: the explicit EPOLL_CTL_DEL matters when the
    /// open file is shared (an fd inherited by a forked child keeps it alive past our close).
    /// </summary>
    public void Unregister(ILoopRegistration registration, int fd)
    {
        if (registration.Token == 0)
        {
            return;
        }
        FdOwnership.CheckOwner(this, "epoll_ctl(DEL)");
        _epoll.Delete(fd);
        _registrations.Remove(registration);
    }

    /// <summary>Temporarily stops watching a registered fd (accept back-off) without freeing its slot.</summary>
    public Errno Suspend(int fd) => _epoll.Delete(fd);

    /// <summary>Watches a suspended fd again under its existing token.</summary>
    public Errno Resume(ILoopRegistration registration, int fd, uint events) => _epoll.Add(fd, events, registration.Token);

    /// <summary>A connection used its read budget; it continues after the other ready connections had a turn.</summary>
    public void QueueReadContinuation(EpollConnection connection) => _readContinuations.Add(connection);

    /// <summary>Runs <paramref name="callback"/> on the loop thread after <paramref name="delay"/>. Loop thread only.</summary>
    public void ScheduleTimer(TimeSpan delay, Action<object?> callback, object? state)
        => _timers.Add((Environment.TickCount64 + (long)delay.TotalMilliseconds, callback, state));

    /// <summary>Runs <paramref name="action"/> on the loop thread and reports its outcome.</summary>
    public Task InvokeAsync(Action action)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Scheduler.Schedule(static state =>
        {
            var (action, completion) = ((Action, TaskCompletionSource))state!;
            try
            {
                action();
                completion.TrySetResult();
            }
            catch (Exception ex)
            {
                completion.TrySetException(ex);
            }
        }, (action, completion));
        return completion.Task;
    }

    public void RunWorkItem(Action<object?> action, object? state)
    {
        try
        {
            action(state);
        }
        catch (Exception ex)
        {
            EpollTransportLog.LoopError(_logger, Index, ex);
        }
    }

    /// <summary>
    /// Runs the loop on the calling thread, which holds <paramref name="tenure"/>, until the loop has
    /// stopped (true) or the tenure was lost while the thread was in application code (false: the
    /// loop goes on elsewhere and this thread must not touch it again).
    /// </summary>
    public bool Run(Tenure tenure)
    {
        if (tenure.Number == 0)
        {
            EpollTransportLog.LoopStarted(_logger, Index);
        }
        // Per tenure: the allocation counter of the thread that holds the loop now.
        _allocatedBase = GC.GetAllocatedBytesForCurrentThread() - Counters.AllocatedBytes;
        try
        {
            while (true)
            {
                if (!ContinueTurn())
                {
                    return false;
                }
                if (_stopRequested)
                {
                    break;
                }
                WaitForEvents();
            }
        }
        catch (Exception ex)
        {
            // Only epoll_wait itself failing gets here; per-connection failures are contained below.
            EpollTransportLog.LoopError(_logger, Index, ex);
        }
        Shutdown();
        return true;
    }

    private void WaitForEvents()
    {
        int timeout = ComputeTimeout();
        int count = 0;
        if (timeout != 0 && _lastSleepWasShort && Application.MayPollBeforeSleeping)
        {
            // Awake while polling: producers queue without writing the eventfd, and the poll sees the queue.
            count = PollBriefly();
        }

        bool sleeping = false;
        if (count == 0 && timeout != 0)
        {
            Interlocked.Exchange(ref _sleeping, 1);
            if (!Scheduler.IsEmpty || Application.HasWorkForLoop || _stopRequested)
            {
                Volatile.Write(ref _sleeping, 0);
                timeout = 0;
            }
            else
            {
                sleeping = true;
            }
        }

        FdOwnership.CheckOwner(this, "epoll_wait");
        long sleptAt = sleeping ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        if (count == 0)
        {
            count = _epoll.Wait(timeout);
        }
        if (sleeping)
        {
            _lastSleepWasShort = System.Diagnostics.Stopwatch.GetTimestamp() - sleptAt < s_shortSleepTicks;
            // A full fence before reading the watchdog's flag (Dekker with LoopWatchdog.Park): a
            // watchdog that parked while every loop slept is woken before any application code runs.
            Interlocked.Exchange(ref _sleeping, 0);
            if (_watchdog is { IsParked: true, UnparkOnLoopWake: true } watchdog)
            {
                watchdog.Unpark();
            }
        }
        Counters.Wakeups++;
        _turn++;
        _batchCount = count;
        // The eventfd's token beside one other event still means one thing to do: the queue (checked
        // on its own by IsQuietTurn) is all the wake-up brought.
        _batchHasOneEvent = count == 1 || (count == 2 && (_epoll.TokenAt(0) == WakeToken || _epoll.TokenAt(1) == WakeToken));
        _batchCursor = 0;
        _queueBudget = MaxWorkItemsPerTurn;
        _queueDeadline = System.Diagnostics.Stopwatch.GetTimestamp() + s_queueTimePerTurn;
        _phase = TurnPhase.Batch;
    }

    /// <summary>
    /// Runs the rest of the current turn: the epoll batch, read continuations, timers and queued work,
    /// with the application's continuations after each step. False if this thread lost the loop.
    /// Every cursor moves past its item before the item runs, so a new owner neither repeats the item
    /// the stuck thread is in nor skips the next one (an edge-triggered event exists only here).
    /// </summary>
    private bool ContinueTurn()
    {
        // A new owner first finishes what the previous one had released to the application.
        if (!RunApplicationWork())
        {
            return false;
        }
        while (true)
        {
            switch (_phase)
            {
                case TurnPhase.Batch:
                    while (_batchCursor < _batchCount)
                    {
                        int i = _batchCursor++;
                        ulong token = _epoll.TokenAt(i);
                        if (token != WakeToken && _registrations.Find(token) is { } registration)
                        {
                            if (token != _soleActiveToken)
                            {
                                _soleActiveToken = token;
                                _soleActiveSince = _turn;
                            }
                            Dispatch(registration, _epoll.EventsAt(i));
                        }
                        if (!RunApplicationWorkAndItsSends())
                        {
                            return false;
                        }
                    }
                    // Swap so that connections re-queued while we run wait for the next turn.
                    (_readContinuations, _readContinuationsRunning) = (_readContinuationsRunning, _readContinuations);
                    _readCursor = 0;
                    _phase = TurnPhase.ReadContinuations;
                    break;

                case TurnPhase.ReadContinuations:
                    while (_readCursor < _readContinuationsRunning.Count)
                    {
                        ContinueReading(_readContinuationsRunning[_readCursor++]);
                        if (!RunApplicationWorkAndItsSends())
                        {
                            return false;
                        }
                    }
                    _readContinuationsRunning.Clear();
                    // Timers and the mode's turn work (overdue held sends) are transport code: they
                    // release application work at most, which the queue phase runs first.
                    RunDueTimers();
                    Application.OnTurn();
                    _phase = TurnPhase.Queue;
                    break;

                case TurnPhase.Queue:
                    if (!RunQueuedWork())
                    {
                        return false;
                    }
                    _workLeftOver = !Scheduler.IsEmpty;
                    Counters.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - _allocatedBase;
                    _phase = TurnPhase.Wait;
                    return true;

                default:
                    return true;
            }
        }
    }

    /// <summary>
    /// Inline modes, after one connection's transport step: its application continuation, then the work
    /// that continuation queued (its response's send), before the next connection of the batch. The
    /// response leaves while its request is still warm in cache, and a peer waiting for it (ping-pong,
    /// a request per connection at a time) does not wait for the rest of the batch. The queue is FIFO,
    /// so work other threads queued earlier runs first, within the turn's budget. False if the loop
    /// was taken over meanwhile.
    /// </summary>
    private bool RunApplicationWorkAndItsSends() => !Application.RunsOnLoop || RunQueuedWork();

    /// <summary>
    /// The application work released so far, then queued work within the turn's budget, each item
    /// followed by the application work it released. False if the loop was taken over meanwhile.
    /// </summary>
    private bool RunQueuedWork()
    {
        if (!RunApplicationWork())
        {
            return false;
        }
        while (_queueBudget > 0 && Scheduler.TryDequeue(out Action<object?> action, out object? state))
        {
            // Out of time: what is left runs after the next epoll_wait (with a zero timeout, since work is left).
            if (--_queueBudget == 0 || System.Diagnostics.Stopwatch.GetTimestamp() > _queueDeadline)
            {
                _queueBudget = 0;
            }
            RunWorkItem(action, state);
            if (!RunApplicationWork())
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Runs the application continuations that transport steps released (inline modes). False if the
    /// loop was taken over during one of them.
    /// </summary>
    private bool RunApplicationWork() => Application.RunWorkForLoop();

    /// <summary>
    /// Polls epoll (a zero timeout) for up to <see cref="PollBeforeSleepingMicroseconds"/> before the
    /// loop sleeps; returns the events found, 0 if none came or work was queued. Why: on a virtual
    /// machine a thread asleep in epoll_wait costs tens of microseconds to wake (the idle vCPU must be
    /// scheduled again), as much as the whole request; a quiet server answering one client's requests
    /// back to back pays it on every request. The thread pool's workers spin for the same reason before
    /// they block. Only when the loop's last sleep was short (requests come back to back) and no
    /// application work of the loop is out on the thread pool (<see cref="ApplicationScheduling.MayPollBeforeSleeping"/>),
    /// so an idle server sleeps at once and a busy one leaves the core to its own handlers. The loop
    /// keeps its core while it polls: nothing here yields it.
    /// </summary>
    private int PollBriefly()
    {
        FdOwnership.CheckOwner(this, "epoll_wait");
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + s_pollTicks;
        do
        {
            int count = _epoll.Wait(0);
            if (count != 0)
            {
                return count;
            }
            if (!Scheduler.IsEmpty || _stopRequested)
            {
                return 0;
            }
        }
        while (System.Diagnostics.Stopwatch.GetTimestamp() < deadline);
        return 0;
    }

    private int ComputeTimeout()
    {
        if (_workLeftOver || _readContinuations.Count > 0 || Application.HasWorkForLoop)
        {
            return 0;
        }
        // Thread-pool mode: a dispatch that holds a send, or that other responses wait for, may block;
        // wake up in time to send them ourselves.
        int cap = Application.MaxSleepMilliseconds;
        if (_timers.Count == 0)
        {
            return cap;
        }
        long next = cap < 0 ? long.MaxValue : Environment.TickCount64 + cap;
        foreach (var timer in _timers)
        {
            next = Math.Min(next, timer.DueTicks);
        }
        return (int)Math.Clamp(next - Environment.TickCount64, 0, int.MaxValue);
    }

    private void Dispatch(ILoopRegistration registration, uint events)
    {
        try
        {
            registration.OnEvents(events);
        }
        catch (Exception ex)
        {
            EpollTransportLog.LoopError(_logger, Index, ex);
            FailSafely(registration, ex);
        }
    }

    private void ContinueReading(EpollConnection connection)
    {
        try
        {
            connection.ContinueReading();
        }
        catch (Exception ex)
        {
            EpollTransportLog.LoopError(_logger, Index, ex);
            FailSafely(connection, ex);
        }
    }

    private void FailSafely(ILoopRegistration registration, Exception exception)
    {
        try
        {
            registration.OnFailure(exception);
        }
        catch (Exception ex)
        {
            // Closing already failed once; the loop must go on regardless.
            EpollTransportLog.LoopError(_logger, Index, ex);
        }
    }

    private void RunDueTimers()
    {
        if (_timers.Count == 0)
        {
            return;
        }
        long now = Environment.TickCount64;
        for (int i = _timers.Count - 1; i >= 0; i--)
        {
            var timer = _timers[i];
            if (timer.DueTicks <= now)
            {
                _timers.RemoveAt(i);
                RunWorkItem(timer.Callback, timer.State);
            }
        }
    }

    private void Shutdown()
    {
        int aborted = 0;
        try
        {
            // No application code runs on the loop from here on: what the closes below release goes
            // to the thread pool, so the shutdown itself can never be stuck in a handler.
            Application.OnLoopExiting();
            // Work queued before the stop request (aborts, final sends) still runs here.
            while (Scheduler.TryDequeue(out Action<object?> action, out object? state))
            {
                RunWorkItem(action, state);
            }
            foreach (ILoopRegistration registration in _registrations.Snapshot())
            {
                try
                {
                    if (registration.OnLoopStopping())
                    {
                        aborted++;
                    }
                }
                catch (Exception ex)
                {
                    EpollTransportLog.LoopError(_logger, Index, ex);
                }
            }
            _timers.Clear();
        }
        finally
        {
            Scheduler.MarkExited();
            _epoll.Dispose();
            _wake.Dispose();
            MemoryPool.Dispose();
            EpollTransportLog.LoopStopped(_logger, Index, aborted);
            _stopped.TrySetResult();
        }
    }
}
