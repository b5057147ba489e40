using System.Buffers;
using System.IO.Pipelines;
using EpollTransport.Connections;
using EpollTransport.Diagnostics;
using EpollTransport.Interop;
using Microsoft.Extensions.Logging;
using static EpollTransport.Interop.LinuxConstants;

namespace EpollTransport.Loops;

/// <summary>
/// One epoll loop: a dedicated thread with its own epoll instance, eventfd, memory pool and scheduler.
/// Every connection fd registered here is read, written and closed by this thread only.
/// </summary>
internal sealed class EpollLoop
{
    /// <summary>Bytes one connection may read per turn before yielding to the others on the loop.</summary>
    public const int ReadBudgetPerTurn = 256 * 1024;

    private const int MaxEventsPerWait = 256;
    private const int MaxWorkItemsPerTurn = 4096;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly Epoll _epoll;
    private readonly WakeEvent _wake;
    private readonly RegistrationTable _registrations = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogger _logger;
    private List<EpollConnection> _readContinuations = new();
    private List<EpollConnection> _readContinuationsRunning = new();
    private readonly List<(long DueTicks, Action<object?> Callback, object? State)> _timers = new();
    private int _threadId = -1;
    private int _sleeping;
    private volatile bool _stopRequested;
    private bool _workLeftOver;

    public EpollLoop(int index, TransportSettings settings, MemoryPool<byte> memoryPool, ILogger logger)
    {
        Index = index;
        Settings = settings;
        MemoryPool = memoryPool;
        _logger = logger;
        Scheduler = new LoopScheduler(this);
        _epoll = new Epoll(MaxEventsPerWait);
        _wake = new WakeEvent();
        // Edge-triggered: every eventfd write is reported as a new event, so the counter never needs
        // reading back (it would take 2^64 wake-ups to fill), which saves a syscall per wake-up.
        Errno errno = _epoll.Add(_wake.Fd, EPOLLIN | EPOLLET, WakeToken);
        if (errno != Errno.None)
        {
            throw errno.ToSocketException("epoll_ctl(ADD eventfd)");
        }

        PipeScheduler applicationScheduler = settings.UnsafePreferInlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
        InputPipeOptions = new PipeOptions(memoryPool, applicationScheduler, Scheduler,
            settings.MaxReadBufferSize, settings.MaxReadBufferSize / 2, useSynchronizationContext: false);
        OutputPipeOptions = new PipeOptions(memoryPool, Scheduler, applicationScheduler,
            settings.MaxWriteBufferSize, settings.MaxWriteBufferSize / 2, useSynchronizationContext: false);

        // The overflow buffer for reads larger than the pipe block at hand; pinned so readv can use it directly.
        ReceiveSpill = GC.AllocateUninitializedArray<byte>(64 * 1024, pinned: true);

        _thread = new Thread(Run)
        {
            IsBackground = true,
            Name = $"epoll loop {index}",
        };
    }

    public int Index { get; }

    public TransportSettings Settings { get; }

    public MemoryPool<byte> MemoryPool { get; }

    public LoopScheduler Scheduler { get; }

    public PipeOptions InputPipeOptions { get; }

    public PipeOptions OutputPipeOptions { get; }

    public LoopCounters Counters { get; } = new();

    public HeldSendWatch HeldSends { get; } = new();

    public GatherSender GatherSender { get; } = new();

    public byte[] ReceiveSpill { get; }

    public ILogger Logger => _logger;

    public bool IsOnLoopThread => Environment.CurrentManagedThreadId == _threadId;

    public Task Stopped => _stopped.Task;

    public void Start() => _thread.Start();

    /// <summary>Asks the loop to abort what it still owns and exit; completes when the thread has ended.</summary>
    public async Task StopAsync()
    {
        _stopRequested = true;
        // Store-load ordering against the loop's "sleeping, then re-check" sequence needs a full fence.
        Interlocked.MemoryBarrier();
        WakeIfSleeping();
        await _stopped.Task.ConfigureAwait(false);
        _thread.Join();
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
            Counters.WorkItems++;
            action(state);
        }
        catch (Exception ex)
        {
            EpollTransportLog.LoopError(_logger, Index, ex);
        }
    }

    private void Run()
    {
        _threadId = Environment.CurrentManagedThreadId;
        EpollTransportLog.LoopStarted(_logger, Index);
        try
        {
            while (!_stopRequested)
            {
                RunOnce();
            }
        }
        catch (Exception ex)
        {
            // Only epoll_wait itself failing gets here; per-connection failures are contained below.
            EpollTransportLog.LoopError(_logger, Index, ex);
        }
        finally
        {
            Shutdown();
        }
    }

    private void RunOnce()
    {
        int timeout = ComputeTimeout();
        if (timeout != 0)
        {
            Interlocked.Exchange(ref _sleeping, 1);
            if (!Scheduler.IsEmpty || _stopRequested)
            {
                Volatile.Write(ref _sleeping, 0);
                timeout = 0;
            }
        }

        int count = _epoll.Wait(timeout);
        Volatile.Write(ref _sleeping, 0);
        Counters.Wakeups++;

        for (int i = 0; i < count; i++)
        {
            ulong token = _epoll.TokenAt(i);
            if (token == WakeToken)
            {
                continue;
            }
            if (_registrations.Find(token) is { } registration)
            {
                Dispatch(registration, _epoll.EventsAt(i));
            }
        }

        RunReadContinuations();
        if (count == 1 && _epoll.TokenAt(0) == WakeToken)
        {
            // Woken by a hand-off alone: the thread that woke us (an HTTP/2 frame writer flushing
            // stream after stream, a handler between flushes) is usually mid-burst. Giving up the CPU
            // once lets it finish, so the sends below carry the burst in one sendmsg instead of one
            // per flush; measured in perf/, this cut h2c's sends per request from 0.083 to 0.032.
            // Yielding whenever a hand-off is among the events looked better in short A/B runs (echo
            // 64 B +9%), but four full runs with it were lower for Epoll default on most rows, so it
            // is not kept until full runs show a gain.
            Thread.Yield();
        }
        RunDueTimers();
        Counters.HeldSendsTimedOut += HeldSends.ReleaseOverdue();
        _workLeftOver = !Scheduler.RunQueued(MaxWorkItemsPerTurn);
        Counters.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread();
    }

    private int ComputeTimeout()
    {
        if (_workLeftOver || _readContinuations.Count > 0)
        {
            return 0;
        }
        // A dispatch that holds a send may block; wake up in time to release the hold ourselves.
        int cap = HeldSends.AnyDispatchOut ? HeldSendWatch.HoldTimeoutMilliseconds : -1;
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
            if (registration is EpollConnection connection)
            {
                FailSafely(connection, ex);
            }
        }
    }

    private void RunReadContinuations()
    {
        if (_readContinuations.Count == 0)
        {
            return;
        }
        // Swap so that connections re-queued while we run wait for the next turn.
        (_readContinuations, _readContinuationsRunning) = (_readContinuationsRunning, _readContinuations);
        foreach (EpollConnection connection in _readContinuationsRunning)
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
        _readContinuationsRunning.Clear();
    }

    private void FailSafely(EpollConnection connection, Exception exception)
    {
        try
        {
            connection.FailFromLoop(exception);
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
            // Work queued before the stop request (aborts, final sends) still runs on this thread.
            Scheduler.RunQueued(int.MaxValue);
            foreach (ILoopRegistration registration in _registrations.Snapshot())
            {
                if (registration is EpollConnection)
                {
                    aborted++;
                }
                try
                {
                    registration.OnLoopStopping();
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
            GatherSender.Dispose();
            MemoryPool.Dispose();
            EpollTransportLog.LoopStopped(_logger, Index, aborted);
            _stopped.TrySetResult();
        }
    }
}
