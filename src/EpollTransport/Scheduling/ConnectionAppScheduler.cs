namespace EpollTransport.Scheduling;

/// <summary>
/// One connection's application-side <see cref="System.IO.Pipelines.PipeScheduler"/> in safe inline
/// mode. Its continuations run on the loop (through the loop's app slot) until one of them holds the loop
/// past the stall threshold and the loop is handed off; from then on they run on the thread pool.
/// <para>
/// Why: a handler that blocks once tends to block again (a synchronous call, a lock, a slow
/// dependency), and every inline stall costs the loop's other connections a threshold's wait before the
/// handoff rescues them, again and again (docs/design.md has the measurement). Sending that
/// connection's work to the thread pool, as thread-pool scheduling does for every connection, costs it
/// one hop per continuation and costs nobody else anything. The connection stays demoted for its life.
/// </para>
/// </summary>
internal sealed class ConnectionAppScheduler : System.IO.Pipelines.PipeScheduler
{
    private readonly LoopAppScheduler _loop;
    private volatile bool _demoted;

    public ConnectionAppScheduler(LoopAppScheduler loop) => _loop = loop;

    public override void Schedule(Action<object?> action, object? state)
    {
        if (_demoted)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
            return;
        }
        _loop.Schedule(action, state, this);
    }

    /// <summary>Whether this connection's continuations go to the thread pool for good.</summary>
    public bool IsDemoted => _demoted;

    /// <summary>
    /// One of this connection's continuations blocked or held the loop too long and lost it to a
    /// handoff: run the rest on the thread pool. Called by the watchdog as it takes the loop
    /// (<see cref="ApplicationScheduling.OnLoopTaken"/>).
    /// </summary>
    public void Demote() => _demoted = true;
}
