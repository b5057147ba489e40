using System.IO.Pipelines;

namespace EpollTransport.Scheduling;

/// <summary>
/// Thread-pool mode: the input pipe's reader scheduler. Runs the application's continuations on the
/// thread pool, counted as the loop's dispatches out while they run, and with the connection's sends
/// held or queued accordingly (<see cref="SendScheduler"/>).
/// </summary>
internal sealed class ApplicationDispatcher(ThreadPoolScheduling scheduling, SendScheduler sends) : PipeScheduler, IThreadPoolWorkItem
{
    // One continuation at a time: the pipe schedules its reader again only after the application
    // has run the previous continuation and awaited a new read.
    private Action<object?>? _action;
    private object? _state;
    private bool _counted;

    public override void Schedule(Action<object?> action, object? state)
    {
        _state = state;
        _action = action;
        // Counted only when the loop releases it (almost every dispatch: the loop's own input flush);
        // the loop then never sleeps past the hold timeout while it is out. The rare one started
        // elsewhere (the application cancelling its own read) neither holds nor defers sends.
        _counted = scheduling.Loop.IsOwnerInTransportCode;
        if (_counted)
        {
            scheduling.DispatchStarted();
        }
        System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        Action<object?> action = _action!;
        object? state = _state;
        bool counted = _counted;
        _action = null;
        _state = null;

        if (!counted)
        {
            action(state);
            return;
        }
        SendScheduler? outerSends = sends.BeginDispatch();
        ThreadPoolScheduling? outerScheduling = scheduling.EnterDispatch();
        try
        {
            action(state);
        }
        finally
        {
            sends.EndDispatch(outerSends);
            scheduling.ExitDispatch(outerScheduling);
        }
    }
}
