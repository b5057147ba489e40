using System.IO.Pipelines;

namespace EpollTransport.Scheduling;

/// <summary>
/// Thread-pool mode: the input pipe's reader scheduler. Runs the application's continuations on the
/// thread pool, counted as the loop's dispatches out while they run, and with the connection's sends
/// held or queued accordingly (<see cref="SendScheduler"/>). On a quiet loop, the continuation goes to
/// the loop's app slot instead, through the connection's <paramref name="quiet"/> scheduler (null when
/// <see cref="EpollTransportOptions.InlineWhenQuiet"/> is off).
/// </summary>
internal sealed class ApplicationDispatcher(ThreadPoolScheduling scheduling, SendScheduler sends, ConnectionAppScheduler? quiet)
    : PipeScheduler, IThreadPoolWorkItem
{
    // One continuation at a time: the pipe schedules its reader again only after the application
    // has run the previous continuation and awaited a new read.
    private Action<object?>? _action;
    private object? _state;
    private bool _counted;

    public override void Schedule(Action<object?> action, object? state)
    {
        bool fromLoop = scheduling.Loop.IsOwnerInTransportCode;
        if (fromLoop && quiet is { IsDemoted: false } && scheduling.IsQuiet)
        {
            quiet.Schedule(action, state);
            return;
        }
        _state = state;
        _action = action;
        // Counted only when the loop releases it (almost every dispatch: the loop's own input flush);
        // the loop then never sleeps past the hold timeout while it is out. The rare one started
        // elsewhere (the application cancelling its own read) neither holds nor defers sends.
        _counted = fromLoop;
        if (_counted)
        {
            scheduling.DispatchStarted();
            scheduling.Dispatched();
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
