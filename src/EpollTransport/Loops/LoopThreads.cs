namespace EpollTransport.Loops;

/// <summary>
/// The threads of one loop group: one per loop while all is well, a small number of parked spares
/// ready to take over a loop whose thread is stuck in application code, and the stuck threads
/// themselves until their application code returns.
/// </summary>
internal sealed class LoopThreads
{
    /// <summary>Parked threads kept ready when loops can be handed off, so a handoff costs a wake-up, not a thread start.</summary>
    public const int DefaultSpareTarget = 1;

    /// <summary>
    /// Threads stuck in application code at once beyond which loops are no longer handed off: a
    /// handler that blocks every thread it is given would otherwise grow the process without bound.
    /// </summary>
    public const int DefaultMaxStuckThreads = 256;

    private readonly int _spareTarget;
    private readonly object _gate = new();
    private readonly Stack<LoopThread> _spares = new();
    private int _stuck;
    private long _handoffs;
    private bool _stopped;

    public LoopThreads(int spareTarget, int maxStuckThreads = DefaultMaxStuckThreads)
    {
        _spareTarget = spareTarget;
        MaxStuckThreads = maxStuckThreads;
        TopUpSpares();
    }

    /// <summary>The cap on <see cref="StuckCount"/> beyond which the watchdog no longer hands loops off.</summary>
    public int MaxStuckThreads { get; }

    /// <summary>Threads that lost their loop while in application code and have not come back yet.</summary>
    public int StuckCount => Volatile.Read(ref _stuck);

    /// <summary>Loops handed to another thread so far.</summary>
    public long Handoffs => Interlocked.Read(ref _handoffs);

    /// <summary>Starts the first owner of <paramref name="loop"/>.</summary>
    public void Start(EpollLoop loop)
    {
        TakeSpare().Assign(loop, loop.CurrentTenure);
        TopUpSpares();
    }

    /// <summary>
    /// The watchdog claimed <paramref name="lost"/>: start the loop's next tenure on a spare thread.
    /// </summary>
    public void HandOff(Tenure lost)
    {
        Interlocked.Increment(ref _stuck);
        Interlocked.Increment(ref _handoffs);
        EpollLoop loop = lost.Loop;
        Tenure next = loop.BeginTenure(lost);
        TakeSpare().Assign(loop, next);
        TopUpSpares();
    }

    /// <summary>A thread gave its loop up; true if it should park as a spare, false if it should exit.</summary>
    public bool OnRoleEnded(LoopThread thread, bool lost)
    {
        if (lost)
        {
            Interlocked.Decrement(ref _stuck);
        }
        lock (_gate)
        {
            if (_stopped || _spares.Count >= _spareTarget)
            {
                return false;
            }
            _spares.Push(thread);
            return true;
        }
    }

    /// <summary>The group stopped: parked spares exit, and so will every thread that comes back.</summary>
    public void Stop()
    {
        LoopThread[] spares;
        lock (_gate)
        {
            _stopped = true;
            spares = _spares.ToArray();
            _spares.Clear();
        }
        foreach (LoopThread spare in spares)
        {
            spare.Exit();
        }
    }

    private LoopThread TakeSpare()
    {
        lock (_gate)
        {
            if (_spares.TryPop(out LoopThread? spare))
            {
                return spare;
            }
        }
        return new LoopThread(this);
    }

    private void TopUpSpares()
    {
        while (true)
        {
            lock (_gate)
            {
                if (_stopped || _spares.Count >= _spareTarget)
                {
                    return;
                }
            }
            var spare = new LoopThread(this);
            lock (_gate)
            {
                // A stuck thread may have come back and parked meanwhile: never keep more than the target.
                if (_stopped || _spares.Count >= _spareTarget)
                {
                    spare.Exit();
                    return;
                }
                _spares.Push(spare);
            }
        }
    }
}
