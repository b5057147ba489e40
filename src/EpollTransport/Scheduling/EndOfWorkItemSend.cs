namespace EpollTransport.Scheduling;

/// <summary>
/// Inline modes: runs a send pump's continuation on the calling thread-pool thread once that thread has
/// finished the work item it is in (the pool's local queue; an idle worker may steal it sooner). For
/// flushes from threads that tend to flush in bursts (an HTTP/2 connection's frame writer, one flush per
/// stream's frames): the burst ends with the work item, and one sendmsg carries all of it, without waking
/// the loop and without anything yielding its core to let the burst gather. Thread-pool scheduling
/// uses it only while the loop serves several connections (<see cref="SendScheduler"/>): queueing a work
/// item asks the pool for another worker, and with one connection on a core of its own that wake-up
/// cost more than the batching saved (docs/performance.md, 2026-12-07 and 2026-12-08).
/// One slot per connection is enough: the output pipe schedules its reader again only after the pump
/// ran and awaited a new read.
/// </summary>
internal sealed class EndOfWorkItemSend(Action<Action<object?>, object?> send) : IThreadPoolWorkItem
{
    private Action<object?>? _action;
    private object? _state;

    public void Defer(Action<object?> action, object? state)
    {
        _state = state;
        _action = action;
        System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
    }

    void IThreadPoolWorkItem.Execute()
    {
        Action<object?> action = _action!;
        object? state = _state;
        _action = null;
        _state = null;
        send(action, state);
    }
}
